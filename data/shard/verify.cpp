// Verification of a shard against its manifest entry: structure, counts, chunked checksums, token id range.
#include "data/shard/verify.h"

#include <algorithm>
#include <utility>

#include "data/shard/indexed_dataset.h"
#include "data/shard/shard_checksums.h"
#include "engine/error.h"

namespace diverge::data {

namespace {

std::string str(const std::filesystem::path& p) { return p.string(); }

void compare_counts(const IndexedDataset& ds, const ShardEntry& shard, std::vector<std::string>& problems) {
  const std::string idx = str(idx_path(ds.prefix()));
  auto differs = [&](const std::string& what, const std::string& found, const std::string& listed) {
    if (found != listed) problems.push_back(idx + ": " + what + " " + found + ", the manifest says " + listed);
  };
  differs("dtype", dtype_name(ds.dtype()), shard.dtype);
  differs("documents", std::to_string(ds.num_documents()), std::to_string(shard.documents));
  differs("tokens", std::to_string(ds.num_tokens()), std::to_string(shard.tokens));
  if (hash_bytes(ds.idx_bytes()) != shard.idx_hash) problems.push_back(idx + ": does not match the manifest checksum");
}

// Chunk hashes locate damage; the whole-file hash catches a manifest whose chunks and whole hash disagree.
void compare_bin(const IndexedDataset& ds, const ShardEntry& shard, std::vector<std::string>& problems) {
  const std::string bin = str(bin_path(ds.prefix()));
  const auto bytes = ds.bin_bytes();
  const auto sums = checksum_bytes(bytes, shard.chunk_bytes);
  const std::size_t common = std::min(sums.chunks.size(), shard.bin_chunk_hashes.size());
  std::size_t bad = 0, first_bad = common;
  for (std::size_t i = 0; i < common; ++i) {
    if (sums.chunks[i] == shard.bin_chunk_hashes[i]) continue;
    if (bad++ == 0) first_bad = i;
  }
  if (bad > 0) {
    const std::uint64_t begin = first_bad * shard.chunk_bytes;
    const std::uint64_t end = std::min<std::uint64_t>(begin + shard.chunk_bytes, bytes.size());
    problems.push_back(bin + ": bytes [" + std::to_string(begin) + ", " + std::to_string(end) +
                       ") do not match the manifest checksum (" + std::to_string(bad) + " of " +
                       std::to_string(common) + " chunks differ)");
  } else if (sums.chunks.size() != shard.bin_chunk_hashes.size()) {
    problems.push_back(bin + ": " + std::to_string(sums.chunks.size()) + " chunks of " +
                       std::to_string(shard.chunk_bytes) + " bytes, the manifest lists " +
                       std::to_string(shard.bin_chunk_hashes.size()));
  } else if (sums.whole != shard.bin_hash) {
    problems.push_back(bin + ": every chunk matches but the whole-file hash does not: the manifest contradicts itself");
  }
}

template <typename T>
std::string first_token_outside(std::span<const std::uint8_t> bytes, std::uint64_t vocab_size) {
  // The .bin map is page-aligned and holds whole tokens (IndexedDataset checked its size against the index).
  const std::span<const T> tokens(reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const T t = tokens[i];
    if (std::cmp_less(t, 0) || std::cmp_greater_equal(t, vocab_size))
      return "token " + std::to_string(t) + " at token offset " + std::to_string(i) +
             " is outside the tokenizer's vocabulary of " + std::to_string(vocab_size);
  }
  return {};
}

void check_token_ids(const IndexedDataset& ds, std::uint64_t vocab_size, std::vector<std::string>& problems) {
  const std::string bin = str(bin_path(ds.prefix()));
  const std::string problem = visit_token_type(
      ds.dtype(), bin, [&](auto type) { return first_token_outside<decltype(type)>(ds.bin_bytes(), vocab_size); });
  if (!problem.empty()) problems.push_back(bin + ": " + problem);
}

}  // namespace

std::vector<std::string> verify_shard(const Manifest& manifest, const ShardEntry& shard) {
  std::vector<std::string> problems;
  try {
    const IndexedDataset ds(manifest.shard_path(shard));
    compare_counts(ds, shard, problems);
    compare_bin(ds, shard, problems);
    check_token_ids(ds, manifest.tokenizer.vocab_size, problems);
  } catch (const Error& e) {
    problems.push_back(e.what());
  }
  return problems;
}

}  // namespace diverge::data
