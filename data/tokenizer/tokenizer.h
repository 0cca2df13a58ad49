// Byte-level BPE tokenizer: loads tiktoken, GPT-2 and Hugging Face vocabularies; encodes and decodes any bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace diverge::data {

// Immutable once loaded; every const method may be called from many threads at once (mutable encoding state is per
// thread). Copies are cheap and share the loaded model.
class Tokenizer {
 public:
  // Loads a vocabulary, detecting its format from the path:
  //   *.tiktoken                         tiktoken rank file (its name, e.g. cl100k_base, picks pattern and specials)
  //   encoder.json (vocab.bpe beside it) GPT-2's files
  //   tokenizer.json / any *.json with a "model" key: Hugging Face byte-level BPE
  //   a directory holding tokenizer.json or encoder.json + vocab.bpe
  // Bad files throw Error naming the file and the problem.
  static Tokenizer load(const std::filesystem::path& path);

  // Ordinary encoding: special tokens are plain text (a document containing "<|endoftext|>" cannot end itself).
  // Hugging Face's non-special added tokens (Qwen3's <think>, <|fim_prefix|>) still match, as in `tokenizers` with
  // split_special_tokens. Every input byte is encoded, whatever the bytes are; nothing is added around the text (no
  // BOS/EOS from a Hugging Face post-processor).
  std::vector<std::int32_t> encode(std::string_view text) const;
  // Special and added tokens in text become their ids; the text between them is encoded as by encode().
  std::vector<std::int32_t> encode_with_special(std::string_view text) const;
  // encode() appending to out, so a caller can reuse one buffer across documents.
  void encode_append(std::string_view text, std::vector<std::int32_t>& out) const;
  void encode_with_special_append(std::string_view text, std::vector<std::int32_t>& out) const;

  // The bytes of ids; an id out of range or without a token throws Error.
  std::string decode(std::span<const std::int32_t> ids) const;
  // The bytes of one token, with the same check.
  std::string_view token_bytes(std::int32_t id) const;

  std::uint32_t vocab_size() const;  // max id + 1, specials included
  // The id of a special or added token, e.g. token_id("<|endoftext|>").
  std::optional<std::int32_t> token_id(std::string_view special_or_added) const;
  // The end-of-document token: <|endoftext|>, or the file's configured eos token. Throws Error if it has neither.
  std::int32_t eod_id() const;
  const std::string& name() const;          // "cl100k_base", "gpt2", "qwen3" (file stem or directory name)
  const std::string& content_hash() const;  // of the file(s) it was loaded from
  std::size_t merge_count() const;          // pair rules in the merge table

  // True when decode(encode(x)) can differ from x (an NFC normaliser, or a pre-tokenizer that adds a prefix space).
  bool normalizes() const;
  // What decode(encode(x)) returns for x (and decode(encode_with_special(x)) too, unless NFC would compose a
  // special token's last character with the text after it).
  std::string normalize(std::string_view text) const;

 private:
  struct Model;
  explicit Tokenizer(std::shared_ptr<const Model> model);
  std::shared_ptr<const Model> model_;
};

}  // namespace diverge::data
