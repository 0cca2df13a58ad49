// Fuzz harness: a Megatron .idx opened with a .bin of a size the input picks, then every document read back.
#include <string>
#include <vector>

#include "data/shard/indexed_dataset.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {
namespace {

constexpr std::size_t kPrefixBytes = 4;  // .bin size and vocabulary size, two little-endian u16

std::uint16_t little_endian_u16(std::string_view bytes) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[0]) | static_cast<unsigned char>(bytes[1]) << 8);
}

// bin_bytes bytes of token data: the input repeated, so that the fuzzer steers the token values too.
std::string bin_data(std::string_view source, std::size_t bin_bytes) {
  std::string bin;
  while (!source.empty() && bin.size() < bin_bytes) bin.append(source.substr(0, bin_bytes - bin.size()));
  bin.resize(bin_bytes, '\0');
  return bin;
}

}  // namespace

void fuzz_shard_index(std::string_view data) {
  if (data.size() < kPrefixBytes) return;
  const std::uint16_t bin_bytes = little_endian_u16(data);
  const std::uint16_t vocab = little_endian_u16(data.substr(2));
  const std::string_view idx = data.substr(kPrefixBytes);
  const fs::path prefix = scratch_dir() / "shard";
  write_bytes(data::idx_path(prefix), idx);
  write_bytes(data::bin_path(prefix), bin_data(idx, bin_bytes));
  refusals_are_errors([&] {
    const data::IndexedDataset dataset(prefix, vocab == 0 ? std::nullopt : std::optional<std::uint64_t>(vocab));
    std::vector<std::int32_t> tokens;
    for (std::size_t d = 0; d < dataset.num_documents(); ++d) {
      const std::uint64_t length = dataset.document_length(d);
      tokens.resize(length);
      dataset.read_document(d, length / 2, length - length / 2, tokens.data());
      dataset.read_document(d, 0, length, tokens.data());
    }
  });
}

}  // namespace diverge::fuzz
