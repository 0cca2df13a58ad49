// What a tiktoken rank file leaves out (pre-tokenizer pattern, special tokens), fixed by the encoding's name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diverge::data {

// GPT-2's pre-tokenizer pattern (also Hugging Face's ByteLevel pre-tokenizer with use_regex).
extern const std::string_view kGpt2Pattern;

struct TiktokenPreset {
  std::string_view name;
  std::string_view pattern;
  std::vector<std::pair<std::string_view, std::int32_t>> specials;
};

// The preset for a rank file's stem ("cl100k_base"), or nullptr when the name is not one OpenAI publishes.
const TiktokenPreset* find_tiktoken_preset(std::string_view stem);

// "r50k_base, p50k_base, cl100k_base, o200k_base", for error messages.
std::string known_tiktoken_presets();

}  // namespace diverge::data
