// Hugging Face tokenizer.json serialisation of a trained byte-level BPE (keys kept in the order HF writes them).
#include "data/tokenizer/tokenizer_json_writer.h"

#include <nlohmann/json.hpp>

#include "data/tokenizer/byte_level.h"

namespace diverge::data {

namespace {

using nlohmann::ordered_json;

ordered_json byte_level_step(bool trim_offsets) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", trim_offsets}, {"use_regex", false}};
}

ordered_json pre_tokenizer(const std::string& pattern) {
  ordered_json split = {{"type", "Split"},
                        {"pattern", {{"Regex", pattern}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  return {{"type", "Sequence"}, {"pretokenizers", ordered_json::array({split, byte_level_step(true)})}};
}

ordered_json model(const TrainedBpe& bpe) {
  ordered_json vocab = ordered_json::object();
  for (std::size_t id = 0; id < bpe.tokens.size(); ++id) vocab[bytes_to_byte_level(bpe.tokens[id])] = id;
  ordered_json merges = ordered_json::array();
  for (const auto& [left, right] : bpe.merges) {
    merges.push_back(bytes_to_byte_level(bpe.tokens[static_cast<std::size_t>(left)]) + " " +
                     bytes_to_byte_level(bpe.tokens[static_cast<std::size_t>(right)]));
  }
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"ignore_merges", false},
          {"vocab", std::move(vocab)},
          {"merges", std::move(merges)}};
}

ordered_json end_of_text(const TrainedBpe& bpe) {
  return {{"id", bpe.end_of_text_id},
          {"content", std::string(kEndOfText)},
          {"single_word", false},
          {"lstrip", false},
          {"rstrip", false},
          {"normalized", false},
          {"special", true}};
}

}  // namespace

std::string tokenizer_json(const TrainedBpe& bpe) {
  ordered_json doc = {{"version", "1.0"},
                      {"truncation", nullptr},
                      {"padding", nullptr},
                      {"added_tokens", ordered_json::array({end_of_text(bpe)})},
                      {"normalizer", nullptr},
                      {"pre_tokenizer", pre_tokenizer(bpe.pattern)},
                      {"post_processor", nullptr},
                      {"decoder", byte_level_step(true)},
                      {"model", model(bpe)}};
  return doc.dump(2) + "\n";
}

}  // namespace diverge::data
