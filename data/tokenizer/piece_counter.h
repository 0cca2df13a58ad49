// Counting the distinct pre-tokenized pieces of a training corpus (JSONL documents or plain text), on several threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/tokenizer/regex.h"

namespace diverge::data {

struct PieceCount {
  std::string bytes;
  std::uint64_t count = 0;
};

struct CorpusCounts {
  std::vector<PieceCount> pieces;  // distinct pieces, sorted by bytes
  std::uint64_t documents = 0;     // JSONL records, or plain-text files
  std::uint64_t total_pieces = 0;  // pieces with repetition
  std::uint64_t bytes = 0;         // input bytes read
};

struct CountOptions {
  unsigned threads = 1;
  // Work is handed to the threads in chunks of about this many bytes. 4 MiB is large enough that scheduling costs
  // nothing and small enough to balance many threads on corpora of some tens of MB.
  std::size_t chunk_bytes = std::size_t{1} << 22;
  bool show_progress = false;  // a progress line on stderr
};

// Reads every input (".jsonl": one JSON object per line with a string "text", blank lines skipped; ".txt": the whole
// file is one text), cuts each text with the pattern (matches and the gaps between them are pieces) and counts the
// pieces. Plain text is cut for the threads at line starts that are not whitespace, where the built-in patterns
// always end a piece, so the counts depend neither on the threads nor on the chunk size. Bad input throws Error
// naming the file and line.
CorpusCounts count_pieces(const std::vector<std::filesystem::path>& inputs, const Regex& pattern,
                          const CountOptions& options);

}  // namespace diverge::data
