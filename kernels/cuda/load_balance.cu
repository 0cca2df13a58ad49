// CUDA load-balance loss: P from the router's column sums over fixed row chunks, the chunks summed in order on one
// block. No float atomics.
#include "kernels/cuda/load_balance.h"

#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/softmax_rows.h"
#include "kernels/router_sums.h"

namespace diverge::cuda {
namespace {

// *loss (+)= E * sum_e f_e * P_e, f_e = counts[e] / sum(counts) by the CPU's float division (the same bits), each
// column's chunk sums added in chunk order.
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

}  // namespace

void load_balance_loss(const float* prob_sums, const std::int32_t* counts, std::int64_t rows, std::int64_t experts,
                       float* loss, bool accumulate) {
  // No rows: 0 / 0, the NaN the CPU's mean over no tokens gives.
  DIVERGE_LAUNCH(load_balance_total_kernel, dim3(1), dim3(kSumThreads), 0, prob_sums, counts, rows,
                 static_cast<int>(experts), router_sum_chunks(rows), loss, accumulate);
}

}  // namespace diverge::cuda
