// Byte-level BPE training: count the corpus' pre-tokenized pieces, then learn merges until the vocabulary is full.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/tokenizer/piece_counter.h"

namespace diverge::data {

inline constexpr std::string_view kEndOfText = "<|endoftext|>";

struct TrainerOptions {
  std::vector<std::filesystem::path> inputs;  // .jsonl or .txt
  std::size_t vocab_size = 0;                 // every token: 256 bytes + merges + <|endoftext|>
  std::string pattern;                        // pre-tokenizer regex (see resolve_pattern)
  std::uint64_t min_frequency = 2;            // a pair seen fewer times is never merged
  CountOptions counting;                      // threads, chunk size, progress (merging is sequential)
};

struct TrainedPiece {
  std::string bytes;
  std::uint64_t count = 0;
  std::vector<std::int32_t> ids;  // the tokens training left this piece as
};

struct TrainedBpe {
  std::string pattern;
  std::vector<std::string> tokens;                            // (vocab_size - 1) token bytes by id; id b < 256 is byte b
  std::vector<std::pair<std::int32_t, std::int32_t>> merges;  // (vocab_size - 257) merges[i] makes token 256 + i
  std::int32_t end_of_text_id = 0;                            // vocab_size - 1, the one added (special) token
  std::vector<TrainedPiece> pieces;                           // every distinct piece of the corpus, sorted by bytes
  std::uint64_t documents = 0;
  std::uint64_t total_pieces = 0;
  std::uint64_t input_bytes = 0;
};

// "gpt2" and "cl100k" name built-in patterns; anything else is taken as a regex. The cl100k form is the one
// Hugging Face files carry (no possessive quantifiers), so that JavaScript and Rust loaders compile it too.
std::string resolve_pattern(std::string_view name_or_regex);

// Learns merges over counted pieces. Each step merges the most frequent adjacent pair (ties: the smaller pair of ids,
// left id first), so equal inputs give equal output. A merge always makes new bytes (how BPE cuts a string never
// depends on what surrounds it, so no two pairs can build the same string), hence token bytes are unique and
// merges[i] makes id 256 + i. Throws Error when vocab_size < 257, there are no pieces, or the corpus runs out of
// pairs seen min_frequency times before the vocabulary is full. The corpus fields (pattern, documents, totals) are
// left to the caller.
TrainedBpe learn_bpe(std::vector<PieceCount> pieces, std::size_t vocab_size, std::uint64_t min_frequency,
                     bool show_progress);

// count_pieces over the inputs, then learn_bpe.
TrainedBpe train_bpe(const TrainerOptions& options);

}  // namespace diverge::data
