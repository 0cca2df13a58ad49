// CUDA cross-entropy: a block per row for the logsumexp (strided partials, then a tree: the same order every run),
// a grid-stride pass for the gradient, and the rows' losses summed in double by one block.
#include "kernels/cuda/cross_entropy.h"

#include <cmath>

#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/grid.h"

namespace diverge::cuda {
namespace {

constexpr int kRowThreads = 256;
constexpr int kSumThreads = 512;
constexpr int kGradThreads = 256;

__device__ bool ignored(std::int32_t target) { return target == -1; }
__device__ bool in_vocabulary(std::int32_t target, std::int64_t vocab) { return target >= 0 && target < vocab; }

// Every thread of the block gets the tree's result over the block's values; the tree has a fixed shape.
template <class T, class Combine>
__device__ T block_reduce(T value, T* shared, Combine combine) {
  shared[threadIdx.x] = value;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] = combine(shared[threadIdx.x], shared[threadIdx.x + half]);
    __syncthreads();
  }
  const T result = shared[0];
  __syncthreads();
  return result;
}

struct Max {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};
template <class T>
struct Sum {
  __device__ T operator()(T a, T b) const { return a + b; }
};

// lse (n) and row_loss (n); one block per row, rows strided over the grid.
__global__ void row_logsumexp_kernel(const float* logits, const std::int32_t* targets, std::int64_t n,
                                     std::int64_t vocab, float* lse, float* row_loss) {
  __shared__ float shared[kRowThreads];
  for (std::int64_t row = blockIdx.x; row < n; row += gridDim.x) {
    const float* x = logits + row * vocab;
    float high = -INFINITY;
    for (std::int64_t v = threadIdx.x; v < vocab; v += blockDim.x) high = high > x[v] ? high : x[v];
    high = block_reduce(high, shared, Max{});
    float sum = 0.0f;
    for (std::int64_t v = threadIdx.x; v < vocab; v += blockDim.x) sum += expf(x[v] - high);
    sum = block_reduce(sum, shared, Sum<float>{});
    if (threadIdx.x == 0) {
      const float row_lse = high + logf(sum);
      const std::int32_t target = targets[row];
      lse[row] = row_lse;
      row_loss[row] = ignored(target) ? 0.0f : (in_vocabulary(target, vocab) ? row_lse - x[target] : NAN);
    }
  }
}

// *out (+)= scale * sum of values, in double, by one block over contiguous per-thread segments.
__global__ void scaled_sum_kernel(const float* values, std::int64_t n, float scale, float* out, bool accumulate) {
  __shared__ double sums[kSumThreads];
  const std::int64_t per_thread = (n + kSumThreads - 1) / kSumThreads;
  const std::int64_t begin = threadIdx.x * per_thread;
  const std::int64_t end = begin + per_thread < n ? begin + per_thread : n;
  double sum = 0.0;
  for (std::int64_t i = begin; i < end; ++i) sum += values[i];
  sum = block_reduce(sum, sums, Sum<double>{});
  if (threadIdx.x == 0) store_loss(out, static_cast<float>(static_cast<double>(scale) * sum), accumulate);
}

__global__ void gradient_kernel(const float* logits, const std::int32_t* targets, const float* lse, std::int64_t n,
                                std::int64_t vocab, float weight, float* dlogits) {
  const std::int64_t total = n * vocab;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t row = e / vocab, v = e % vocab;
    const std::int32_t target = targets[row];
    if (ignored(target)) {
      dlogits[e] = 0.0f;
    } else if (!in_vocabulary(target, vocab)) {
      dlogits[e] = NAN;
    } else {
      const float p = weight * expf(logits[e] - lse[row]);
      dlogits[e] = v == target ? p - weight : p;
    }
  }
}

}  // namespace

void cross_entropy_forward(const float* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab,
                           float* lse, float* row_loss) {
  if (n == 0) return;
  DIVERGE_LAUNCH(row_logsumexp_kernel, dim3(static_cast<unsigned>(n < 65535 ? n : 65535)), dim3(kRowThreads), 0,
                 logits, targets, n, vocab, lse, row_loss);
}

void cross_entropy_backward(const float* logits, const std::int32_t* targets, const float* lse, std::int64_t n,
                            std::int64_t vocab, float weight, float* dlogits) {
  if (n == 0 || vocab == 0) return;
  DIVERGE_LAUNCH(gradient_kernel, grid_stride_blocks(n * vocab, kGradThreads), dim3(kGradThreads), 0, logits, targets,
                 lse, n, vocab, weight, dlogits);
}

void scaled_sum(const float* values, std::int64_t n, float scale, float* out, bool accumulate) {
  DIVERGE_LAUNCH(scaled_sum_kernel, dim3(1), dim3(kSumThreads), 0, values, n, scale, out, accumulate);
}

}  // namespace diverge::cuda
