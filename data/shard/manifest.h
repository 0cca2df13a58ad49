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
  static constexpr const char* kFormatName = "diverge-corpus";
  static constexpr const char* kDefaultName = "manifest.json";  // the manifest's name inside a corpus directory
  std::filesystem::path dir;                   // directory the manifest lives in; prefixes resolve against it
  TokenizerInfo tokenizer;
  std::vector<std::string> label_systems;      // every shard has a label in each of these
  std::vector<ShardEntry> shards;
  std::filesystem::path file;                  // where it was loaded from (empty when built in memory); errors name it

  // Parses and validates (types, required keys, no unknown keys, every shard labelled in every system and in no
  // other, splits train|val, non-negative counts, known dtypes, well-formed hashes, as many chunk hashes as the
  // .bin has chunks, distinct prefixes); errors name the file and the JSON path, e.g.
  // "m.json: shards[2].labels: no label for system 'fine'".
  static Manifest load(const std::filesystem::path& file);
  // Writes atomically, keys in the documented order. Prefixes are written as they are: they resolve against the
  // directory of `file`.
  void save(const std::filesystem::path& file) const;

  std::filesystem::path shard_path(const ShardEntry& s) const { return dir / s.prefix; }
  // Sorted distinct labels of one label system (the id of a label is its index here); throws if unknown.
  std::vector<std::string> labels_of(const std::string& label_system) const;
};

// 4 MiB: a flipped byte in a multi-GB shard is placed within 4 MiB, for one hash per 4 MiB in the manifest.
constexpr std::uint64_t kDefaultChunkBytes = std::uint64_t{4} << 20;

// Opens dir/prefix (validating it as IndexedDataset does) and fills a manifest entry's prefix, documents, tokens,
// dtype, hashes and chunk_bytes from the files; labels and split are left for the caller.
ShardEntry describe_shard(const std::filesystem::path& dir, const std::string& prefix,
                          std::uint64_t chunk_bytes = kDefaultChunkBytes);

// The manifest file named by a command-line argument: the file itself, or `manifest.json` inside a directory.
// Throws Error naming the argument when neither exists.
std::filesystem::path find_manifest(const std::filesystem::path& dir_or_manifest);

}  // namespace diverge::data
