// bf16 in kernels: loads and stores between the 16-bit patterns the host passes and fp32 arithmetic.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"
#include "kernels/cuda/cuda_source.h"

namespace diverge::cuda {

__device__ __forceinline__ float load_bf16(const bf16_bits* p) {
  return __bfloat162float(*reinterpret_cast<const __nv_bfloat16*>(p));
}

// Rounds to nearest even, as every bf16 output of the backend does.
__device__ __forceinline__ void store_bf16(bf16_bits* p, float value) {
  *reinterpret_cast<__nv_bfloat16*>(p) = __float2bfloat16(value);
}

// What a bf16 store of value would hold, kept in fp32.
__device__ __forceinline__ float rounded_to_bf16(float value) { return __bfloat162float(__float2bfloat16(value)); }

}  // namespace diverge::cuda
