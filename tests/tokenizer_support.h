// Test helpers for the tokenizer: the bundled vocabularies, each loaded once per test binary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "data/tokenizer/tokenizer.h"

namespace diverge::test {

// "r50k_base", "cl100k_base", "gpt2", "qwen3": one per file format and pre-tokenizer.
const std::vector<std::string>& bundled_tokenizer_names();

// The vocabulary file of a bundled tokenizer, e.g. data/vocab/tiktoken/cl100k_base.tiktoken.
std::filesystem::path bundled_tokenizer_path(const std::string& name);

// Loads a tokenizer file once and returns the same object afterwards (thread-safe).
const data::Tokenizer& cached_tokenizer(const std::filesystem::path& path);

inline const data::Tokenizer& bundled_tokenizer(const std::string& name) {
  return cached_tokenizer(bundled_tokenizer_path(name));
}

// Text with control bytes and invalid UTF-8 shown as \xNN, for readable failure messages.
std::string printable(const std::string& bytes);

}  // namespace diverge::test
