// Safetensors writer: validate the tensors, lay them out as the reference does, stream header and data to disk.
#include "engine/checkpoint/safetensors_writer.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

#include "engine/checkpoint/safetensors_header.h"
#include "engine/error.h"

namespace diverge {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is written straight from memory");

void check_names(std::span<const NamedTensor> tensors, const std::string& where) {
  std::set<std::string_view> seen;
  for (const auto& t : tensors) {
    check(!t.name.empty(), where, "a tensor has an empty name");
    check(t.name != "__metadata__", where, "'__metadata__' is reserved and cannot name a tensor");
    check(seen.insert(t.name).second, where, "tensor '" + t.name + "' is given twice");
  }
}

// The reference's order: element size descending (by its dtype order), then name; returns indices into tensors.
std::vector<std::size_t> file_order(std::span<const NamedTensor> tensors) {
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(tensors[b].dtype, tensors[a].name) < std::tie(tensors[a].dtype, tensors[b].name);
  });
  return order;
}

SafetensorsHeader layout(std::span<const NamedTensor> tensors, const std::vector<std::size_t>& order,
                         const std::map<std::string, std::string>& metadata, const std::string& where) {
  SafetensorsHeader header;
  header.metadata = metadata;
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const NamedTensor& t = tensors[i];
    const std::uint64_t bytes = tensor_byte_size(t, where);
    check(bytes == 0 || t.data != nullptr, where, "tensor '" + t.name + "' has no data");
    TensorEntry entry;
    static_cast<TensorSpec&>(entry) = t;
    entry.begin = offset;
    entry.end = offset + bytes;
    header.tensors.push_back(std::move(entry));
    offset += bytes;
  }
  return header;
}

std::array<unsigned char, 8> little_endian_u64(std::uint64_t value) {
  std::array<unsigned char, 8> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(value >> (8 * i));
  return bytes;
}

}  // namespace

WrittenFile write_safetensors(const fs::path& path, std::span<const NamedTensor> tensors,
                              const std::map<std::string, std::string>& metadata, std::string where) {
  if (where.empty()) where = path.string();
  check_names(tensors, where);
  const auto order = file_order(tensors);
  const SafetensorsHeader header = layout(tensors, order, metadata, where);
  const std::string header_text = encode_header(header, where);
  check(header_text.size() <= kMaxHeaderBytes, where,
        "header of " + std::to_string(header_text.size()) + " bytes exceeds the format's limit of " +
            std::to_string(kMaxHeaderBytes));

  DurableFile file(path, where);
  const auto length = little_endian_u64(header_text.size());
  file.write(length.data(), length.size());
  file.write(header_text);
  for (std::size_t k = 0; k < order.size(); ++k) {
    const TensorEntry& entry = header.tensors[k];
    file.write(tensors[order[k]].data, static_cast<std::size_t>(entry.end - entry.begin));
  }
  return file.commit();
}

}  // namespace diverge
