// Safetensors element types: one table of names and sizes, indexed by the enum.
#include "engine/checkpoint/safe_dtype.h"

#include <array>

#include "engine/error.h"

namespace diverge {
namespace {

struct DtypeInfo {
  std::string_view name;
  std::size_t bytes;
};

// (number of SafeDtype values), in enum order.
constexpr std::array<DtypeInfo, 15> kDtypes{{
    {"BOOL", 1},
    {"U8", 1},
    {"I8", 1},
    {"F8_E5M2", 1},
    {"F8_E4M3", 1},
    {"I16", 2},
    {"U16", 2},
    {"F16", 2},
    {"BF16", 2},
    {"I32", 4},
    {"U32", 4},
    {"F32", 4},
    {"F64", 8},
    {"I64", 8},
    {"U64", 8},
}};
static_assert(static_cast<std::size_t>(SafeDtype::u64) + 1 == kDtypes.size(), "one table row per SafeDtype");

const DtypeInfo& info(SafeDtype dtype) { return kDtypes.at(static_cast<std::size_t>(dtype)); }

}  // namespace

std::size_t safe_dtype_bytes(SafeDtype dtype) { return info(dtype).bytes; }

std::string_view safe_dtype_name(SafeDtype dtype) { return info(dtype).name; }

std::optional<SafeDtype> parse_safe_dtype(std::string_view name) {
  for (std::size_t i = 0; i < kDtypes.size(); ++i)
    if (kDtypes[i].name == name) return static_cast<SafeDtype>(i);
  return std::nullopt;
}

SafeDtype safe_dtype_of(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return SafeDtype::f32;
    case DType::bf16:
      return SafeDtype::bf16;
    case DType::i32:
      return SafeDtype::i32;
    case DType::f64:
      return SafeDtype::f64;
  }
  throw Error("checkpoint", "tensor has an unknown engine dtype");
}

}  // namespace diverge
