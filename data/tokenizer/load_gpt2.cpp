// Loader for GPT-2's encoder.json (byte-level token -> id) and vocab.bpe (merges, highest priority first).
#include <string>

#include "data/tokenizer/byte_level.h"
#include "data/tokenizer/json_text.h"
#include "data/tokenizer/presets.h"
#include "data/tokenizer/text_lines.h"
#include "data/tokenizer/tokenizer_spec.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_quote.h"
#include "engine/json/json_reader.h"
#include "engine/hash.h"

namespace diverge::data {

namespace {

constexpr std::string_view kEndOfText = "<|endoftext|>";
constexpr std::int32_t kEndOfTextId = 50256;

// Reads encoder.json into vocab; returns the id it gives <|endoftext|>, if it lists it.
std::optional<std::int32_t> read_encoder(const std::string& text, const std::string& where, BpeVocab& vocab) {
  nlohmann::json encoder = parse_json(text, where);
  check(encoder.is_object(), where, "expected an object of token -> id, found " + json_kind(encoder));
  std::optional<std::int32_t> end_of_text;
  for (const auto& item : encoder.items()) {
    const std::string& token = item.key();  // a reference, not a binding: the lambda below captures it
    const nlohmann::json& value = item.value();
    // Messages are built only on failure: this loop runs once per token.
    auto fail = [&](const std::string& what) { throw Error(where, "token '" + brief_text(token) + "': " + what); };
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > kMaxTokenId) {
      fail("id is not an integer in 0.." + std::to_string(kMaxTokenId));
    }
    auto id = value.get<std::int32_t>();
    if (vocab.tokens().has(id)) fail("id " + std::to_string(id) + " is used twice");
    if (token == kEndOfText) {
      end_of_text = id;
      continue;
    }
    auto bytes = byte_level_to_bytes(token);
    if (!bytes) fail("not written in the byte-level alphabet");
    vocab.add_mergeable(id, *bytes);
  }
  return end_of_text;
}

void read_merges(std::string_view text, const std::string& where, BpeVocab& vocab) {
  std::uint32_t priority = 0;
  std::string merged;
  for_each_line(text, [&](std::string_view line, std::size_t line_number) {
    if (line.starts_with("#version")) return;
    auto fail = [&](const std::string& what) {
      throw Error(where, "line " + std::to_string(line_number) + ": " + what);
    };
    std::size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      fail("expected two tokens separated by one space");
    }
    auto token = [&](std::string_view symbol) {
      auto bytes = byte_level_to_bytes(symbol);
      std::optional<std::int32_t> id = bytes ? vocab.find(*bytes) : std::nullopt;
      if (!id) fail("merge names unknown token '" + brief_text(symbol) + "'");
      return *id;
    };
    std::string_view left = line.substr(0, space);
    std::string_view right = line.substr(space + 1);
    merged.assign(left).append(right);
    std::int32_t left_id = token(left);
    std::int32_t right_id = token(right);
    vocab.add_merge(left_id, right_id, token(merged), priority++);
  });
}

}  // namespace

TokenizerSpec load_gpt2(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe) {
  TokenizerSpec spec;
  spec.source = encoder_json.string();
  std::string name = encoder_json.parent_path().filename().string();
  spec.name = name.empty() ? "gpt2" : name;
  std::string encoder_text = read_file(encoder_json);
  std::string merges_text = read_file(vocab_bpe);
  ContentHasher hasher;
  hasher.update(encoder_text.data(), encoder_text.size());
  hasher.update(merges_text.data(), merges_text.size());
  spec.content_hash = hasher.finish();

  auto end_of_text = read_encoder(encoder_text, spec.source, spec.vocab);
  if (auto duplicate = spec.vocab.index()) {
    throw Error(spec.source, "ids " + std::to_string(duplicate->first) + " and " + std::to_string(duplicate->second) +
                                 " hold the same token");
  }
  if (auto byte = spec.vocab.missing_byte()) {
    throw Error(spec.source, "no token for byte " + std::to_string(*byte) + ": byte-level BPE needs all 256");
  }
  read_merges(merges_text, vocab_bpe.string(), spec.vocab);
  spec.vocab.finish(false);
  add_added_token(spec, AddedToken{std::string(kEndOfText), end_of_text.value_or(kEndOfTextId), true});
  spec.pre_tokenizer = {PreTokenizerStep{std::string(kGpt2Pattern), false, false}};
  return spec;
}

}  // namespace diverge::data
