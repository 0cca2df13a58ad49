// Device pieces shared by the CUDA router and its auxiliary losses: a warp per row of E experts, its max,
// logsumexp and softmax backward, and a block sum in a fixed order. Included by .cu files only.
#pragma once

#include <cstdint>

#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/warp_reduce.h"

namespace diverge::cuda {

constexpr unsigned kFullWarp = 0xffffffffu;
constexpr int kRowWarps = 8;                 // rows (one warp each) per block of the row kernels
constexpr int kSumThreads = 256;             // threads of the one block that sums a loss
constexpr std::int64_t kMaxGridBlocks = 65535;  // row and chunk grids stride beyond this

__device__ __forceinline__ int lane_id() { return static_cast<int>(threadIdx.x % 32); }

// The row this warp takes first, and the distance to its next one (the grid strides when rows exceed it).
__device__ __forceinline__ std::int64_t first_row() {
  return static_cast<std::int64_t>(blockIdx.x) * kRowWarps + threadIdx.x / 32;
}
__device__ __forceinline__ std::int64_t row_stride() { return static_cast<std::int64_t>(gridDim.x) * kRowWarps; }

inline dim3 row_grid(std::int64_t rows) {
  const std::int64_t blocks = (rows + kRowWarps - 1) / kRowWarps;
  return dim3(static_cast<unsigned>(blocks < kMaxGridBlocks ? blocks : kMaxGridBlocks));
}
inline dim3 row_block() { return dim3(32 * kRowWarps); }

// The maximum of a row (experts) held by the warp; the max is exact, so its order does not matter.
__device__ __forceinline__ float row_max(const float* row, int experts, int lane) {
  float value = -INFINITY;
  for (int c = lane; c < experts; c += 32) value = fmaxf(value, row[c]);
  return warp_max(value);
}

// log(sum(exp(row))), shifted by the row's maximum as the CPU's logsumexp is.
__device__ __forceinline__ float row_logsumexp(const float* row, int experts, int lane) {
  const float max_value = row_max(row, experts, lane);
  float sum = 0.0f;
  for (int c = lane; c < experts; c += 32) sum += expf(row[c] - max_value);
  return max_value + logf(warp_sum(sum));
}

// dlogits (experts) = (accumulate ? dlogits : 0) + p * (dp - <dp, p> + shift) for one row, dp(c) its dense
// gradient; extra_projection is a part of <dp, p> the caller summed itself (the router's gate gradients, which are
// sparse); shift times p is the form of the z-loss's gradient.
template <class DenseGrad>
__device__ void softmax_backward_row(const float* p, DenseGrad dp, float extra_projection, float shift, int experts,
                                     int lane, bool accumulate, float* dlogits) {
  float projection = 0.0f;
  for (int c = lane; c < experts; c += 32) projection += dp(c) * p[c];
  projection = warp_sum(projection) + extra_projection;
  for (int c = lane; c < experts; c += 32) {
    const float grad = p[c] * (dp(c) - projection + shift);
    dlogits[c] = accumulate ? dlogits[c] + grad : grad;
  }
}

// The sum of every thread's value over a block of kSumThreads threads, by a tree fixed by the block size; every
// thread gets it. Once per kernel: the shared partials are not guarded for reuse.
template <class T>
__device__ __forceinline__ T block_sum(T value) {
  __shared__ T warp_partials[kSumThreads / 32];
  const int lane = lane_id();
  value = warp_sum(value);
  if (lane == 0) warp_partials[threadIdx.x / 32] = value;
  __syncthreads();
  return warp_sum(lane < kSumThreads / 32 ? warp_partials[lane] : T(0));
}

}  // namespace diverge::cuda
