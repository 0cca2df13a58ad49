// CUDA embedding: the gather copies 16-bit patterns; the backward sorts token positions by id (stably) and lets each
// table row sum its own tokens in order, so no two threads ever add into one value.
#include "kernels/cuda/embedding.h"

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/stable_sort.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 256;
constexpr bf16_bits kNan = 0x7fc0;

__global__ void gather_kernel(const std::int32_t* ids, std::int64_t n, const bf16_bits* table, std::int64_t vocab,
                              std::int64_t dim, bf16_bits* out) {
  const std::int64_t total = n * dim;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t i = e / dim, c = e % dim;
    const std::int32_t id = ids[i];
    out[e] = id >= 0 && id < vocab ? table[id * dim + c] : kNan;
  }
}

// keys (n): each id, or vocab for an id outside [0, vocab), so that the sort's keys stay in range whatever the ids.
__global__ void sort_keys_kernel(const std::int32_t* ids, std::int64_t n, std::int64_t vocab, std::int32_t* keys) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    keys[i] = ids[i] >= 0 && ids[i] < vocab ? ids[i] : static_cast<std::int32_t>(vocab);
}

// One block per table row: its tokens are order[starts[row] .. starts[row + 1]), in token order.
__global__ void row_sums_kernel(const std::int32_t* order, const std::int32_t* starts, const bf16_bits* dout,
                                std::int64_t dim, float* dtable) {
  const std::int64_t row = blockIdx.x;
  const std::int32_t begin = starts[row], end = starts[row + 1];
  if (begin == end) return;
  for (std::int64_t c = threadIdx.x; c < dim; c += blockDim.x) {
    float sum = dtable[row * dim + c];
    for (std::int32_t k = begin; k < end; ++k) sum += load_bf16(dout + static_cast<std::int64_t>(order[k]) * dim + c);
    dtable[row * dim + c] = sum;
  }
}

}  // namespace

void embedding_forward(const std::int32_t* ids, std::int64_t n, const bf16_bits* table, std::int64_t vocab,
                       std::int64_t dim, bf16_bits* out) {
  const std::int64_t total = n * dim;
  if (total == 0) return;
  DIVERGE_LAUNCH(gather_kernel, grid_stride_blocks(total, kThreads), dim3(kThreads), 0, ids, n, table,
                 vocab, dim, out);
}

void embedding_backward(const std::int32_t* ids, std::int64_t n, const bf16_bits* dout, std::int64_t vocab,
                        std::int64_t dim, float* dtable) {
  if (n == 0 || dim == 0) return;
  static Scratch scratch("embedding_backward scratch");
  auto* keys = scratch.get<std::int32_t>(static_cast<std::size_t>(2 * n + vocab + 2));
  std::int32_t* order = keys + n;
  std::int32_t* starts = order + n;
  DIVERGE_LAUNCH(sort_keys_kernel, grid_stride_blocks(n, kThreads), dim3(kThreads), 0, ids, n, vocab, keys);
  // Key `vocab` collects the invalid ids; its run is never summed (the forward pass made their rows NaN already).
  stable_sort_by_key(keys, n, static_cast<std::int32_t>(vocab + 1), order, starts);
  DIVERGE_LAUNCH(row_sums_kernel, dim3(static_cast<unsigned>(vocab)), dim3(kThreads), 0, order, starts, dout,
                 dim, dtable);
}

}  // namespace diverge::cuda
