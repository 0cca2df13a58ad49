// Tensor specs: shape printing, overflow-checked byte sizes, and the engine Tensor adapter.
#include "engine/checkpoint/tensor_spec.h"

#include <utility>

#include "engine/error.h"

namespace diverge {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i == 0 ? "" : ",") + std::to_string(shape[i]);
  return text + "]";
}

std::uint64_t tensor_byte_size(const TensorSpec& spec, std::string_view where) {
  std::uint64_t bytes = safe_dtype_bytes(spec.dtype);
  for (std::int64_t dim : spec.shape) {
    check(dim >= 0, where, "tensor '" + spec.name + "': shape " + shape_text(spec.shape) + " has a negative dimension");
    check(!__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(dim), &bytes), where,
          "tensor '" + spec.name + "': shape " + shape_text(spec.shape) + " is too large (byte size overflows)");
  }
  return bytes;
}

NamedTensor named_tensor(std::string name, const Tensor& tensor) {
  check(tensor.device == Device::cpu, "checkpoint",
        "tensor '" + name + "' is on the GPU; copy it to host memory before saving");
  check(tensor.ndim >= 0 && tensor.ndim <= Tensor::kMaxDims, "checkpoint",
        "tensor '" + name + "' has " + std::to_string(tensor.ndim) + " dimensions");
  NamedTensor named;
  named.name = std::move(name);
  named.dtype = safe_dtype_of(tensor.dtype);
  named.shape.assign(tensor.shape.begin(), tensor.shape.begin() + tensor.ndim);
  named.data = tensor.data;
  return named;
}

}  // namespace diverge
