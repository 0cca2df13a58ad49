// Shard checksums: whole-file and per-chunk XXH3 hashes of a .bin, and a manifest entry described from its files.
#include "data/shard/shard_checksums.h"

#include <algorithm>

#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "engine/error.h"
#include "engine/hash.h"

namespace diverge::data {

std::string hash_bytes(std::span<const std::uint8_t> bytes) {
  return content_hash({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

BinChecksums checksum_bytes(std::span<const std::uint8_t> bytes, std::uint64_t chunk_bytes) {
  check(chunk_bytes > 0, "checksum_bytes", "chunk_bytes must be positive");
  BinChecksums sums;
  ContentHasher whole;
  for (std::uint64_t start = 0; start < bytes.size(); start += chunk_bytes) {
    const auto chunk = bytes.subspan(start, std::min<std::uint64_t>(chunk_bytes, bytes.size() - start));
    whole.update(chunk.data(), chunk.size());
    sums.chunks.push_back(hash_bytes(chunk));
  }
  sums.whole = whole.finish();
  return sums;
}

ShardEntry describe_shard(const std::filesystem::path& dir, const std::string& prefix, std::uint64_t chunk_bytes) {
  const IndexedDataset ds(dir / prefix);
  auto sums = checksum_bytes(ds.bin_bytes(), chunk_bytes);
  ShardEntry entry;
  entry.prefix = prefix;
  entry.documents = ds.num_documents();
  entry.tokens = ds.num_tokens();
  entry.dtype = dtype_name(ds.dtype());
  entry.bin_hash = std::move(sums.whole);
  entry.idx_hash = hash_bytes(ds.idx_bytes());
  entry.chunk_bytes = chunk_bytes;
  entry.bin_chunk_hashes = std::move(sums.chunks);
  return entry;
}

}  // namespace diverge::data
