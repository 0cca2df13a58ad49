// `diverge prepare`: tokenize domain-labelled JSONL documents into Megatron shards plus a corpus manifest.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace diverge::data {

struct PrepareOptions {
  std::vector<std::filesystem::path> inputs;        // .jsonl / .jsonl.xz files, or directories holding them
  std::filesystem::path tokenizer;                  // any format Tokenizer::load reads
  std::filesystem::path output;                     // corpus directory: shards + manifest.json
  std::vector<std::string> label_systems{"coarse", "fine"};  // JSON fields every document must carry
  std::uint64_t shard_tokens = 256ull << 20;        // start a new shard of a domain past this many tokens
  unsigned threads = 0;                             // tokenizer threads; 0 = all cores
  bool force = false;                               // replace an existing corpus in `output`
};

// What was written, per (labels, split) stream, for the closing table.
struct PrepareStats {
  struct Stream {
    std::uint64_t documents = 0, tokens = 0, text_bytes = 0;
  };
  std::map<std::string, Stream> streams;  // key: "<prefix dir>/<split>"
  std::uint64_t documents = 0, tokens = 0, text_bytes = 0;
  double seconds = 0;
};

// Reads every input line `{"text": .., "<system>": "<label>", ..., "split"?: "train"|"val"}` (the split comes from
// the line or, failing that, from a file name starting with "train" or "val"), tokenizes with EOD appended, and
// writes one shard series per distinct label tuple and split. Output is identical for any thread count.
// Errors name the file and line.
PrepareStats prepare_corpus(const PrepareOptions& options);

}  // namespace diverge::data
