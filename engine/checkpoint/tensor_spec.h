// What a checkpoint tensor is (name, dtype, shape), the host data handed to the writer, and their byte sizes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/safe_dtype.h"
#include "engine/tensor.h"

namespace diverge {

// A tensor as a file or a config describes it. Names follow Hugging Face state dicts
// ("model.layers.0.mlp.experts.3.down_proj.weight") so that an exported checkpoint is a plain copy.
struct TensorSpec {
  std::string name;
  SafeDtype dtype = SafeDtype::f32;
  std::vector<std::int64_t> shape;  // row-major; empty for a 0-d tensor
};

// A tensor to write: its spec plus row-major host memory of tensor_byte_size(spec) bytes (may be null when that
// size is 0). The writer only reads it.
struct NamedTensor : TensorSpec {
  const void* data = nullptr;
};

// "[256,256]"; "[]" for a 0-d tensor.
std::string shape_text(const std::vector<std::int64_t>& shape);

// Elements times element size; Error at `where` when a dimension is negative or the size overflows 64 bits.
std::uint64_t tensor_byte_size(const TensorSpec& spec, std::string_view where);

// An engine tensor seen as a checkpoint tensor. Error when it lives on the GPU: callers copy to the host first.
NamedTensor named_tensor(std::string name, const Tensor& tensor);

}  // namespace diverge
