// Streaming read of a Hugging Face tokenizer.json: the large model.vocab and model.merges go straight into vectors,
// the small rest of the document into a JSON tree.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diverge::data {

struct HuggingFaceJson {
  nlohmann::json rest;  // the document without model.vocab and model.merges when they were read into the vectors
  bool has_vocab = false;   // model.vocab was an object, now in vocab
  bool has_merges = false;  // model.merges was an array, now in merges
  std::vector<std::pair<std::string, std::int64_t>> vocab;   // (token in the byte-level alphabet, id), file order
  std::vector<std::pair<std::string, std::string>> merges;   // halves of each merge, priority order
};

// Parses text (a tokenizer.json) under the strict reader's rules (engine/json/json_reader.h). Those errors, a
// vocabulary id that is not an integer, or a merge that is neither "a b" nor ["a", "b"] throw Error(where, ...)
// naming the key. Building the full JSON tree instead takes several
// times longer for a 150k-token vocabulary (a map node per token, a small array per merge).
HuggingFaceJson read_hugging_face_json(const std::string& text, std::string_view where);

}  // namespace diverge::data
