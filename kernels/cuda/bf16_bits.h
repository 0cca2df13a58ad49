// bf16 tensors cross host code as their 16-bit patterns, so that the ops layer needs no CUDA header.
#pragma once

#include <cstdint>

namespace diverge::cuda {

using bf16_bits = std::uint16_t;

}  // namespace diverge::cuda
