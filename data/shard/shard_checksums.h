// Chunked checksums of a shard's .bin: what describe_shard records in a manifest and `data verify` checks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace diverge::data {

struct BinChecksums {
  std::string whole;                // content_hash of all the bytes
  std::vector<std::string> chunks;  // (ceil(size / chunk_bytes)) content_hash of each chunk_bytes slice
};

// content_hash of a mapped file's bytes.
std::string hash_bytes(std::span<const std::uint8_t> bytes);

// Hashes the bytes whole and chunk by chunk in one pass.
BinChecksums checksum_bytes(std::span<const std::uint8_t> bytes, std::uint64_t chunk_bytes);

}  // namespace diverge::data
