// Corpus manifest (JSON): which domain each shard prefix holds in every label system, counts, splits, checksums.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace diverge::data {

// The tokenizer a corpus was tokenized with: shards are meaningless under another one.
struct TokenizerInfo {
  std::string id;             // human name, e.g. "bundled-bpe-8k" or "cl100k_base"
  std::string hash;           // content_hash of the tokenizer file(s)
  std::uint64_t vocab_size = 0;
  std::int32_t eod_id = -1;   // end-of-document token appended after every document
};

// One indexed dataset (prefix.bin + prefix.idx) and what it holds.
struct ShardEntry {
  std::string prefix;                          // relative to the manifest's directory, no extension
  std::map<std::string, std::string> labels;   // label system -> label, e.g. {"coarse": "code", "fine": "code.python"}
  std::string split;                           // "train" or "val"
  std::uint64_t documents = 0;
  std::uint64_t tokens = 0;
  std::string dtype;                           // TokenDtype name, e.g. "uint16"
  std::string bin_hash, idx_hash;              // content_hash of each whole file
  std::uint64_t chunk_bytes = 0;               // .bin checksum granularity
  std::vector<std::string> bin_chunk_hashes;   // content_hash of each chunk_bytes slice of .bin, in order
};

struct Manifest {
  static constexpr int kFormatVersion = 1;
  std::filesystem::path dir;                   // directory the manifest lives in; prefixes resolve against it
  TokenizerInfo tokenizer;
  std::vector<std::string> label_systems;      // every shard has a label in each of these
  std::vector<ShardEntry> shards;

  // Parses and validates (types, required keys, every shard labelled in every system, known splits, non-negative
  // counts); errors name the file and the JSON path, e.g. "m.json: shards[2].labels: missing label system 'fine'".
  static Manifest load(const std::filesystem::path& file);
  // Writes atomically.
  void save(const std::filesystem::path& file) const;

  std::filesystem::path shard_path(const ShardEntry& s) const { return dir / s.prefix; }
  // Sorted distinct labels of one label system (the id of a label is its index here); throws if unknown.
  std::vector<std::string> labels_of(const std::string& label_system) const;
};

}  // namespace diverge::data
