// The safetensors header: the JSON index of tensor names, dtypes, shapes and byte ranges, encoded and validated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/tensor_spec.h"

namespace diverge {

// One header entry: data bytes [begin, end) counted from the first byte after the header.
struct TensorEntry : TensorSpec {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;             // in data order
  std::map<std::string, std::string> metadata;  // "__metadata__": free-form strings
};

// The reference writer caps headers at 100 MB and its reader refuses larger ones; so do we.
inline constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// Compact JSON as the reference writes it: "__metadata__" first (omitted when empty), then the tensors in the
// given order, each {"dtype","shape","data_offsets"}; padded with spaces to a multiple of 8 bytes so that the
// data section starts 8-byte aligned. Error at `where` when a name is not valid UTF-8.
std::string encode_header(const SafetensorsHeader& header, std::string_view where);

// Parses and validates the header text of a file whose data section holds data_bytes bytes: an object of
// tensor entries (each exactly dtype / shape / data_offsets, a known dtype, non-negative integers) and an
// optional "__metadata__" object of strings; no duplicate keys; every tensor's byte span equal to its shape
// times its element size; spans in bounds, non-overlapping and covering the data section with no gap.
// Any violation is an Error at `where` (the file) naming the tensor and the rule.
SafetensorsHeader decode_header(std::string_view text, std::uint64_t data_bytes, std::string_view where);

}  // namespace diverge
