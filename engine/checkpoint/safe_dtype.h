// The element types of the safetensors format: names, sizes, and the mapping from engine dtypes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "engine/tensor.h"

namespace diverge {

// Every byte-sized element type of the public format, declared in the reference implementation's order
// (increasing alignment). Its writer lays tensors out by this order, largest first, and ours does the same, so
// both produce the same file from the same tensors and every tensor starts aligned to its element size.
enum class SafeDtype : std::uint8_t {
  boolean,
  u8,
  i8,
  f8_e5m2,
  f8_e4m3,
  i16,
  u16,
  f16,
  bf16,
  i32,
  u32,
  f32,
  f64,
  i64,
  u64
};

std::size_t safe_dtype_bytes(SafeDtype dtype);
// The spelling in the header: "BOOL", "F32", "BF16", "F8_E4M3", ...
std::string_view safe_dtype_name(SafeDtype dtype);
// The dtype a header spelling names; nullopt for anything else (the format's spellings are case-sensitive).
std::optional<SafeDtype> parse_safe_dtype(std::string_view name);
// How an engine tensor of this dtype is stored (bf16 stays bf16: its bits are copied, never converted).
SafeDtype safe_dtype_of(DType dtype);

}  // namespace diverge
