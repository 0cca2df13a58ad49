// CUDA router z-loss: a warp per row for its logsumexp, then the rows' squares summed in a fixed order on one block.
#include "kernels/cuda/z_loss.h"

#include "kernels/cuda/device_loss.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/softmax_rows.h"

namespace diverge::cuda {
namespace {

// squares (rows) = logsumexp(logits[t])^2.
__global__ void squared_logsumexp_kernel(const float* logits, std::int64_t rows, int experts, float* squares) {
  const int lane = lane_id();
  for (std::int64_t row = first_row(); row < rows; row += row_stride()) {
    const float lse = row_logsumexp(logits + row * experts, experts, lane);
    if (lane == 0) squares[row] = lse * lse;
  }
}

// *mean (+)= the mean of values (n), each thread summing a fixed stride of them in order.
__global__ void ordered_mean_kernel(const float* values, std::int64_t n, float* mean, bool accumulate) {
  float sum = 0.0f;
  for (std::int64_t i = threadIdx.x; i < n; i += kSumThreads) sum += values[i];
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

void router_z_loss(const float* logits, std::int64_t rows, std::int64_t experts, float* loss, bool accumulate) {
  if (rows == 0) {
    if (!accumulate) zero(loss, sizeof(float));
    return;
  }
  static Scratch scratch("router_z_loss scratch");
  float* squares = scratch.get<float>(static_cast<std::size_t>(rows));
  DIVERGE_LAUNCH(squared_logsumexp_kernel, row_grid(rows), row_block(), 0, logits, rows,
                 static_cast<int>(experts), squares);
  DIVERGE_LAUNCH(ordered_mean_kernel, dim3(1), dim3(kSumThreads), 0, squares, rows, loss, accumulate);
}

void router_z_loss_backward(const float* logits, std::int64_t rows, std::int64_t experts, float dloss,
                            float* dlogits) {
  if (rows == 0) return;
  const float scale = dloss * 2.0f / static_cast<float>(rows);  // as the CPU forms it
  DIVERGE_LAUNCH(z_loss_backward_kernel, row_grid(rows), row_block(), 0, logits, rows,
                 static_cast<int>(experts), scale, dlogits);
}

}  // namespace diverge::cuda
