// Reads a safetensors file through a memory map, after validating its header against the file in full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/safetensors_header.h"
#include "engine/files.h"

namespace diverge {

namespace fs = std::filesystem;

class SafetensorsFile {
 public:
  // Maps the file and validates it (see decode_header); when expected_hash is given, the file's content hash is
  // checked first, so a damaged file reports as damaged rather than as whatever its damage looks like. Every
  // problem is an Error naming the file.
  explicit SafetensorsFile(const fs::path& path, std::string_view expected_hash = {});

  const fs::path& path() const { return file_.path(); }
  std::uint64_t file_bytes() const { return file_.size(); }
  const std::vector<TensorEntry>& tensors() const { return header_.tensors; }  // in data order
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

  const TensorEntry* find(std::string_view name) const;    // nullptr when absent
  const TensorEntry& tensor(std::string_view name) const;  // Error naming the file and tensor when absent

  // The raw little-endian bytes, straight from the map: valid while this object lives, and aligned only as well as
  // the file's layout makes them (files we write align every tensor to its element size; others may not).
  std::span<const std::byte> data(const TensorEntry& entry) const;
  // Copies a tensor into dst; Error unless dst_bytes is exactly the tensor's size.
  void copy_to(std::string_view name, void* dst, std::size_t dst_bytes) const;

 private:
  MappedFile file_;
  std::uint64_t data_start_ = 0;  // 8 + header length
  SafetensorsHeader header_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in header_.tensors
};

}  // namespace diverge
