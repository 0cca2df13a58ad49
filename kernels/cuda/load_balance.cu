// CUDA load-balance loss: P from the router's column sums over fixed row chunks, the chunks summed in order on one
// block; the gradient as a warp per row through the softmax backward. No float atomics anywhere.
#include "kernels/cuda/load_balance.h"

#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/softmax_rows.h"
#include "kernels/router_sums.h"

namespace diverge::cuda {
namespace {

// fraction (experts) = counts / sum(counts): the CPU's float division of the same integers, so the same bits.
__global__ void routed_fraction_kernel(const std::int32_t* counts, int experts, float* fraction) {
  long long total = 0;
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads) total += counts[e];
  total = block_sum(total);
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads)
    fraction[e] = static_cast<float>(counts[e]) / static_cast<float>(total);
}

// *loss (+)= E * sum_e f_e * P_e, f_e = counts[e] / sum(counts) as routed_fraction_kernel forms it, each column's
// chunk sums added in chunk order.
__global__ void load_balance_total_kernel(const float* prob_sums, const std::int32_t* counts, std::int64_t rows,
                                          int experts, std::int64_t chunks, float* loss, bool accumulate) {
  long long routed = 0;
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads) routed += counts[e];
  routed = block_sum(routed);  // block_sum<long long>: its shared partials are not block_sum<float>'s below
  float weighted = 0.0f;
  for (int e = static_cast<int>(threadIdx.x); e < experts; e += kSumThreads) {
    float column = 0.0f;
    for (std::int64_t chunk = 0; chunk < chunks; ++chunk) column += prob_sums[chunk * experts + e];
    weighted += static_cast<float>(counts[e]) / static_cast<float>(routed) * column;
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

void load_balance_loss(const float* prob_sums, const std::int32_t* counts, std::int64_t rows, std::int64_t experts,
                       float* loss, bool accumulate) {
  // No rows: 0 / 0, the NaN the CPU's mean over no tokens gives.
  DIVERGE_LAUNCH(load_balance_total_kernel, dim3(1), dim3(kSumThreads), 0, prob_sums, counts, rows,
                 static_cast<int>(experts), router_sum_chunks(rows), loss, accumulate);
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
