// CUDA SwiGLU: grid-stride elementwise passes over the formulas of swiglu_math.h.
#include "kernels/cuda/swiglu.h"

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/swiglu_math.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void swiglu_forward_kernel(const bf16_bits* gate, const bf16_bits* up, std::int64_t n,
                                      bf16_bits* out) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    store_bf16(out + i, swiglu(load_bf16(gate + i), load_bf16(up + i)));
  }
}

__global__ void swiglu_backward_kernel(const bf16_bits* dout, const bf16_bits* gate, const bf16_bits* up,
                                       std::int64_t n, bf16_bits* dgate, bf16_bits* dup) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const SwigluGradients d = swiglu_gradients(load_bf16(dout + i), load_bf16(gate + i), load_bf16(up + i));
    store_bf16(dgate + i, d.gate);
    store_bf16(dup + i, d.up);
  }
}

}  // namespace

void swiglu_forward(const bf16_bits* gate, const bf16_bits* up, std::int64_t n, bf16_bits* out) {
  if (n == 0) return;
  DIVERGE_LAUNCH(swiglu_forward_kernel, grid_stride_blocks(n, kThreads), dim3(kThreads), 0, gate, up, n, out);
}

void swiglu_backward(const bf16_bits* dout, const bf16_bits* gate, const bf16_bits* up, std::int64_t n,
                     bf16_bits* dgate, bf16_bits* dup) {
  if (n == 0) return;
  DIVERGE_LAUNCH(swiglu_backward_kernel, grid_stride_blocks(n, kThreads), dim3(kThreads), 0, dout, gate, up, n, dgate,
                 dup);
}

}  // namespace diverge::cuda
