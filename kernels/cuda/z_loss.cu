// CUDA router z-loss: the router's per-row logsumexp squared and summed in a fixed order on one block.
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

}  // namespace

void router_z_loss(const float* lse, std::int64_t rows, float* loss, bool accumulate) {
  if (rows == 0) {
    if (!accumulate) zero(loss, sizeof(float));
    return;
  }
  DIVERGE_LAUNCH(mean_square_kernel, dim3(1), dim3(kSumThreads), 0, lse, rows, loss, accumulate);
}

}  // namespace diverge::cuda
