// Safetensors reader: header length, optional content hash, header validation, then views into the map.
#include "engine/checkpoint/safetensors_reader.h"

#include <bit>
#include <cstring>

#include "engine/error.h"
#include "engine/hash.h"

namespace diverge {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian and is read in place");

std::uint64_t read_little_endian_u64(const std::uint8_t* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// The header length from the first 8 bytes, checked against the file size and the format's limit.
std::uint64_t header_length(const MappedFile& file, std::string_view where) {
  check(file.size() >= 8, where,
        "file is " + std::to_string(file.size()) + " bytes, too short for the 8-byte header length");
  const std::uint64_t length = read_little_endian_u64(file.data());
  check(length <= kMaxHeaderBytes, where,
        "header length " + std::to_string(length) + " exceeds the format's limit of " +
            std::to_string(kMaxHeaderBytes) + " bytes (not a safetensors file?)");
  check(length <= file.size() - 8, where,
        "header length " + std::to_string(length) + " runs past the end of the " + std::to_string(file.size()) +
            "-byte file");
  return length;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const fs::path& path, std::string_view expected_hash) : file_(path) {
  const std::string where = path.string();
  if (!expected_hash.empty()) {
    const std::string actual = content_hash(file_.view());
    check(actual == expected_hash, where,
          "content hash " + actual + " does not match the recorded " + std::string(expected_hash) +
              " (file damaged or replaced)");
  }
  const std::uint64_t length = header_length(file_, where);
  data_start_ = 8 + length;
  header_ = decode_header(file_.view().substr(8, length), file_.size() - data_start_, where);
  for (std::size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
}

const TensorEntry* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

const TensorEntry& SafetensorsFile::tensor(std::string_view name) const {
  const TensorEntry* entry = find(name);
  check(entry != nullptr, path().string(), "no tensor named '" + std::string(name) + "'");
  return *entry;
}

std::span<const std::byte> SafetensorsFile::data(const TensorEntry& entry) const {
  const auto* start = reinterpret_cast<const std::byte*>(file_.data()) + data_start_ + entry.begin;
  return {start, static_cast<std::size_t>(entry.end - entry.begin)};
}

void SafetensorsFile::copy_to(std::string_view name, void* dst, std::size_t dst_bytes) const {
  const auto bytes = data(tensor(name));
  check(bytes.size() == dst_bytes, path().string(),
        "tensor '" + std::string(name) + "' is " + std::to_string(bytes.size()) + " bytes, the destination holds " +
            std::to_string(dst_bytes));
  if (!bytes.empty()) std::memcpy(dst, bytes.data(), bytes.size());
}

}  // namespace diverge
