// CUDA load-balance loss: P as column sums over fixed row chunks, then the chunks in order on one block; the
// gradient as a warp per row through the softmax backward. No float atomics anywhere.
#include "kernels/cuda/load_balance.h"

#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/softmax_rows.h"

namespace diverge::cuda {
namespace {

constexpr int kRowChunk = 128;  // rows per partial column sum: the summation order depends on the shape alone
constexpr int kColumnThreads = 128;

// fraction (experts) = counts / sum(counts): the CPU's float division of the same integers, so the same bits.
__global__ void routed_fraction_kernel(const std::int32_t* counts, int experts, float* fraction) {
  long long total = 0;
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads) total += counts[e];
  total = block_sum(total);
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads)
    fraction[e] = static_cast<float>(counts[e]) / static_cast<float>(total);
}

// partial (chunks, experts): column sums of probs over each chunk of kRowChunk rows, rows in order.
__global__ void column_chunk_sums_kernel(const float* probs, std::int64_t rows, std::int64_t experts,
                                         std::int64_t chunks, float* partial) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kColumnThreads + threadIdx.x;
  if (col >= experts) return;
  for (std::int64_t chunk = blockIdx.y; chunk < chunks; chunk += gridDim.y) {
    const std::int64_t begin = chunk * kRowChunk;
    const std::int64_t end = begin + kRowChunk < rows ? begin + kRowChunk : rows;
    float sum = 0.0f;
    for (std::int64_t r = begin; r < end; ++r) sum += probs[r * experts + col];
    partial[chunk * experts + col] = sum;
  }
}

// *loss (+)= E * sum_e fraction_e * P_e, each column's chunks summed in chunk order.
__global__ void load_balance_total_kernel(const float* partial, const float* fraction, std::int64_t rows,
                                          int experts, std::int64_t chunks, float* loss, bool accumulate) {
  float weighted = 0.0f;
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads) {
    float column = 0.0f;
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) column += partial[chunk * experts + e];
    weighted += fraction[e] * column;
  }
  const float total = block_sum(weighted);
  if (threadIdx.x == 0) store_loss(loss, static_cast<float>(experts) * total / static_cast<float>(rows), accumulate);
}

// d loss / d p_te = scale * fraction_e for every token, as the CPU reference forms it.
__global__ void load_balance_backward_kernel(const float* probs, const float* fraction, std::int64_t rows,
                                             int experts, float scale, float* dlogits) {
  const int lane = lane_id();
  for (std::int64_t row = first_row(); row < rows; row += row_stride())
    softmax_backward_row(
        probs + row * experts, [&](int c) { return scale * fraction[c]; }, 0.0f, experts, lane, true,
        dlogits + row * experts);
}

float* routed_fraction(const std::int32_t* counts, std::int64_t experts, float* fraction) {
  DIVERGE_LAUNCH(routed_fraction_kernel, dim3(1), dim3(kSumThreads), 0, counts, static_cast<int>(experts),
                 fraction);
  return fraction;
}

}  // namespace

void load_balance_loss(const float* probs, const std::int32_t* counts, std::int64_t rows, std::int64_t experts,
                       float* loss, bool accumulate) {
  static Scratch scratch("load_balance_loss scratch");
  const std::int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
  float* fraction = scratch.get<float>(static_cast<std::size_t>((chunks + 1) * experts));
  float* partial = fraction + experts;
  routed_fraction(counts, experts, fraction);
  if (chunks > 0) {
    const auto column_blocks = static_cast<unsigned>((experts + kColumnThreads - 1) / kColumnThreads);
    const auto chunk_blocks = static_cast<unsigned>(chunks < kMaxGridBlocks ? chunks : kMaxGridBlocks);
    DIVERGE_LAUNCH(column_chunk_sums_kernel, dim3(column_blocks, chunk_blocks), dim3(kColumnThreads), 0, probs, rows,
                   experts, chunks, partial);
  }
  // No rows: 0 / 0, the NaN the CPU's mean over no tokens gives.
  DIVERGE_LAUNCH(load_balance_total_kernel, dim3(1), dim3(kSumThreads), 0, partial, fraction, rows,
                 static_cast<int>(experts), chunks, loss, accumulate);
}

void load_balance_loss_backward(const float* probs, const std::int32_t* counts, std::int64_t rows,
                                std::int64_t experts, float dloss, float* dlogits) {
  if (rows == 0) return;
  static Scratch scratch("load_balance_loss_backward scratch");
  const float* fraction = routed_fraction(counts, experts, scratch.get<float>(static_cast<std::size_t>(experts)));
  const float scale = dloss * static_cast<float>(experts) / static_cast<float>(rows);  // as the CPU forms it
  DIVERGE_LAUNCH(load_balance_backward_kernel, row_grid(rows), row_block(), 0, probs, fraction, rows,
                 static_cast<int>(experts), scale, dlogits);
}

}  // namespace diverge::cuda
