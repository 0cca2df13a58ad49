// CUDA attention's row projections delta = rowsum(dout * out), a warp per row, in fp32.
#include "kernels/cuda/attention_delta.h"

#include <algorithm>

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/warp_reduce.h"

namespace diverge::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxBlocks = 65535;

// Row r of the (B, T, H) rows is warp r's, lane-strided over D and reduced by a fixed shuffle tree.
__global__ void attention_delta_kernel(AttentionShape s, const bf16_bits* out, const bf16_bits* dout, float* delta) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::int64_t rows = s.batch * s.seq * s.heads;
  const std::int64_t warps = static_cast<std::int64_t>(gridDim.x) * kWarps;
  for (std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32; r < rows; r += warps) {
    float sum = 0.0f;
    for (std::int64_t d = lane; d < s.head_dim; d += 32)
      sum += load_bf16(dout + r * s.head_dim + d) * load_bf16(out + r * s.head_dim + d);
    sum = warp_sum(sum);
    const std::int64_t b = r / (s.seq * s.heads), t = r / s.heads % s.seq, h = r % s.heads;
    if (lane == 0) delta[(b * s.heads + h) * s.seq + t] = sum;
  }
}

}  // namespace

const float* attention_delta(const AttentionShape& s, const bf16_bits* out, const bf16_bits* dout) {
  const std::int64_t rows = s.batch * s.seq * s.heads;
  static Scratch scratch("attention_backward row projections");
  float* delta = scratch.get<float>(static_cast<std::size_t>(rows));
  const std::int64_t blocks = std::min<std::int64_t>((rows + kWarps - 1) / kWarps, kMaxBlocks);
  DIVERGE_LAUNCH(attention_delta_kernel, dim3(static_cast<unsigned>(blocks)), dim3(32 * kWarps), 0, s, out, dout,
                 delta);
  return delta;
}

}  // namespace diverge::cuda
