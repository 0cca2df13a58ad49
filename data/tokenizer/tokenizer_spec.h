// What a loader reads from a vocabulary file (any of the three formats), before Tokenizer compiles it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "data/tokenizer/added_tokens.h"
#include "data/tokenizer/bpe_vocab.h"
#include "data/tokenizer/pretokenizer.h"

namespace diverge::data {

struct TokenizerSpec {
  std::string source;        // the file named in error messages
  std::string name;          // "cl100k_base", "gpt2", "qwen3"
  std::string content_hash;  // of the file(s) read
  BpeVocab vocab;            // finished, with the added tokens' bytes recorded for decoding
  std::vector<PreTokenizerStep> pre_tokenizer;
  bool nfc = false;
  std::vector<AddedToken> added;  // special and added tokens, matched in raw text by encode_with_special
  std::string eod_token = "<|endoftext|>";  // content of the end-of-document token
};

// Records an added/special token in spec (its bytes for decoding, its content for matching). An id already used by
// a different vocabulary token, or a negative id, throws Error(spec.source, ...).
void add_added_token(TokenizerSpec& spec, AddedToken token);

// `*.tiktoken` rank file; its stem picks the pattern and special tokens.
TokenizerSpec load_tiktoken(const std::filesystem::path& path);
// GPT-2's encoder.json with the merges file (vocab.bpe) beside it.
TokenizerSpec load_gpt2(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe);
// Hugging Face tokenizer.json holding a byte-level BPE model; text is the file's contents.
TokenizerSpec load_hugging_face(const std::filesystem::path& path, const std::string& text);

}  // namespace diverge::data
