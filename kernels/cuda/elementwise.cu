// CUDA elementwise passes: one grid-stride loop each, fp32 arithmetic, one rounding per bf16 output.
#include "kernels/cuda/elementwise.h"

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/grid.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void add_kernel(const bf16_bits* a, const bf16_bits* b, std::int64_t n, bf16_bits* out) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    store_bf16(out + i, load_bf16(a + i) + load_bf16(b + i));
}

__global__ void round_kernel(const float* x, std::int64_t n, bf16_bits* out) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    store_bf16(out + i, x[i]);
}

}  // namespace

void add(const bf16_bits* a, const bf16_bits* b, std::int64_t n, bf16_bits* out) {
  if (n > 0) DIVERGE_LAUNCH(add_kernel, grid_stride_blocks(n, kThreads), dim3(kThreads), 0, a, b, n, out);
}

void round_to_bf16(const float* x, std::int64_t n, bf16_bits* out) {
  if (n > 0) DIVERGE_LAUNCH(round_kernel, grid_stride_blocks(n, kThreads), dim3(kThreads), 0, x, n, out);
}

}  // namespace diverge::cuda
