// CUDA cross-entropy: a block per row for the logsumexp (strided partials, then a tree: the same order every run),
// the loss summed over rows in double by one block, and a grid-stride pass for the gradient.
#include "kernels/cuda/cross_entropy.h"

#include <cmath>

#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/scratch.h"

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

// loss = sum of row_loss / count of targets, in double, by one block over contiguous per-thread segments.
__global__ void mean_loss_kernel(const float* row_loss, const std::int32_t* targets, std::int64_t n, float* loss) {
  __shared__ double sums[kSumThreads];
  __shared__ long long counts[kSumThreads];
  const std::int64_t per_thread = (n + kSumThreads - 1) / kSumThreads;
  const std::int64_t begin = threadIdx.x * per_thread;
  const std::int64_t end = begin + per_thread < n ? begin + per_thread : n;
  double sum = 0.0;
  long long count = 0;
  for (std::int64_t i = begin; i < end; ++i) {
    sum += row_loss[i];
    count += ignored(targets[i]) ? 0 : 1;
  }
  sum = block_reduce(sum, sums, Sum<double>{});
  count = block_reduce(count, counts, Sum<long long>{});
  if (threadIdx.x == 0) *loss = count == 0 ? 0.0f : static_cast<float>(sum / static_cast<double>(count));
}

__global__ void count_targets_kernel(const std::int32_t* targets, std::int64_t n, long long* count) {
  __shared__ long long counts[kSumThreads];
  long long mine = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) mine += ignored(targets[i]) ? 0 : 1;
  mine = block_reduce(mine, counts, Sum<long long>{});
  if (threadIdx.x == 0) *count = mine;
}

__global__ void gradient_kernel(const float* logits, const std::int32_t* targets, const float* lse, std::int64_t n,
                                std::int64_t vocab, float dloss, const long long* count, float* dlogits) {
  const float scale = *count == 0 ? 0.0f : dloss / static_cast<float>(*count);
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
      const float p = scale * expf(logits[e] - lse[row]);
      dlogits[e] = v == target ? p - scale : p;
    }
  }
}

}  // namespace

void cross_entropy_forward(const float* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab,
                           float* lse, float* loss) {
  static Scratch scratch("cross_entropy row losses");
  float* row_loss = scratch.get<float>(static_cast<std::size_t>(n > 0 ? n : 1));
  if (n > 0)
    DIVERGE_LAUNCH(row_logsumexp_kernel, dim3(static_cast<unsigned>(n < 65535 ? n : 65535)), dim3(kRowThreads), 0,
                   nullptr, logits, targets, n, vocab, lse, row_loss);
  DIVERGE_LAUNCH(mean_loss_kernel, dim3(1), dim3(kSumThreads), 0, nullptr, row_loss, targets, n, loss);
}

void cross_entropy_backward(const float* logits, const std::int32_t* targets, const float* lse, std::int64_t n,
                            std::int64_t vocab, float dloss, float* dlogits) {
  if (n == 0 || vocab == 0) return;
  static Scratch scratch("cross_entropy_backward target count");
  long long* count = scratch.get<long long>(1);
  DIVERGE_LAUNCH(count_targets_kernel, dim3(1), dim3(kSumThreads), 0, nullptr, targets, n, count);
  DIVERGE_LAUNCH(gradient_kernel, grid_stride_blocks(n * vocab, kGradThreads), dim3(kGradThreads), 0, nullptr,
                 logits, targets, lse, n, vocab, dloss, count, dlogits);
}

}  // namespace diverge::cuda
