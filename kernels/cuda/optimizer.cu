// CUDA AdamW (one grid-stride pass) and the two-pass deterministic sum of squares.
#include "kernels/cuda/optimizer.h"

#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 256;
// Elements per chunk of the sum of squares: each chunk is one block's, so the partials, and their order, depend on
// n alone.
constexpr std::int64_t kChunk = 1 << 14;

__global__ void adamw_kernel(AdamWStep h, std::int64_t n, float* params, const float* grads, float* m, float* v) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float g = grads[i] * h.grad_scale;
    const float m_new = h.beta1 * m[i] + (1.0f - h.beta1) * g;
    const float v_new = h.beta2 * v[i] + (1.0f - h.beta2) * g * g;
    m[i] = m_new;
    v[i] = v_new;
    params[i] = params[i] * h.decay - h.lr * (m_new / h.correction1) / (sqrtf(v_new / h.correction2) + h.eps);
  }
}

// partial[b] = sum of x[i]^2 over chunk b, each thread's strided share first, then a tree over the block.
__global__ void chunk_squares_kernel(const float* x, std::int64_t n, double* partial) {
  __shared__ double sums[kThreads];
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.x) * kChunk;
  const std::int64_t end = begin + kChunk < n ? begin + kChunk : n;
  double sum = 0.0;
  for (std::int64_t i = begin + threadIdx.x; i < end; i += kThreads) {
    const double value = static_cast<double>(x[i]);
    sum += value * value;
  }
  sums[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = sums[0];
}

// The chunk partials, summed in chunk order by one block: the second pass stays on the device, and only the total
// crosses to the host.
__global__ void ordered_total_kernel(const double* partial, std::int64_t chunks, double* total) {
  __shared__ double sums[kThreads];
  double sum = 0.0;
  const std::int64_t per_thread = (chunks + kThreads - 1) / kThreads;
  const std::int64_t begin = threadIdx.x * per_thread;
  for (std::int64_t i = begin; i < begin + per_thread && i < chunks; ++i) sum += partial[i];
  sums[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) sums[threadIdx.x] += sums[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *total = sums[0];
}

}  // namespace

void adamw_step(const AdamWStep& h, std::int64_t n, float* params, const float* grads, float* m, float* v) {
  if (n == 0) return;
  DIVERGE_LAUNCH(adamw_kernel, grid_stride_blocks(n, kThreads), dim3(kThreads), 0, h, n, params, grads, m, v);
}

void sums_of_squares(std::span<const SquaresPart> parts, double* host) {
  static Scratch scratch("sum_of_squares scratch");
  std::int64_t all_chunks = 0;
  for (const SquaresPart& part : parts) all_chunks += (part.n + kChunk - 1) / kChunk;
  double* partial = scratch.get<double>(static_cast<std::size_t>(all_chunks) + parts.size());
  double* totals = partial + all_chunks;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::int64_t chunks = (parts[i].n + kChunk - 1) / kChunk;
    if (chunks == 0) continue;
    DIVERGE_LAUNCH(chunk_squares_kernel, dim3(static_cast<unsigned>(chunks)), dim3(kThreads), 0, parts[i].x,
                   parts[i].n, partial);
    DIVERGE_LAUNCH(ordered_total_kernel, dim3(1), dim3(kThreads), 0, partial, chunks, totals + i);
    partial += chunks;
  }
  if (!parts.empty()) copy_to_host(host, totals, parts.size() * sizeof(double));
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (parts[i].n == 0) host[i] = 0.0;  // its total was never written
}

}  // namespace diverge::cuda
