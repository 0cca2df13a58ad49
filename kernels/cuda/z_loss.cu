// CUDA router z-loss: the router's per-row logsumexp squared and summed in a fixed order on one block; the gradient
// recomputes each row's logsumexp with a warp.
#include "kernels/cuda/z_loss.h"

#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/softmax_rows.h"

namespace diverge::cuda {
namespace {

// *mean (+)= the mean of the squares of values (n), each thread summing a fixed stride of them in order.
__global__ void mean_square_kernel(const float* values, std::int64_t n, float* mean, bool accumulate) {
  float sum = 0.0f;
  for (std::int64_t i = threadIdx.x; i < n; i += kSumThreads) sum += values[i] * values[i];
  const float total = block_sum(sum);
  if (threadIdx.x == 0) store_loss(mean, total / static_cast<float>(n), accumulate);
}

__global__ void z_loss_backward_kernel(const float* logits, std::int64_t rows, int experts, float scale,
                                       float* dlogits) {
  const int lane = lane_id();
  for (std::int64_t row = first_row(); row < rows; row += row_stride()) {
    const float* z = logits + row * experts;
    const float lse = row_logsumexp(z, experts, lane);
    float* dl = dlogits + row * experts;
    for (int c = lane; c < experts; c += 32) dl[c] += scale * lse * expf(z[c] - lse);
  }
}

}  // namespace

void router_z_loss(const float* lse, std::int64_t rows, float* loss, bool accumulate) {
  if (rows == 0) {
    if (!accumulate) zero(loss, sizeof(float));
    return;
  }
  DIVERGE_LAUNCH(mean_square_kernel, dim3(1), dim3(kSumThreads), 0, lse, rows, loss, accumulate);
}

void router_z_loss_backward(const float* logits, std::int64_t rows, std::int64_t experts, float dloss,
                            float* dlogits) {
  if (rows == 0) return;
  const float scale = dloss * 2.0f / static_cast<float>(rows);  // as the CPU forms it
  DIVERGE_LAUNCH(z_loss_backward_kernel, row_grid(rows), row_block(), 0, logits, rows,
                 static_cast<int>(experts), scale, dlogits);
}

}  // namespace diverge::cuda
