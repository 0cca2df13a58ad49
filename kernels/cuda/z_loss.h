// CUDA router z-loss in fp32, in an order fixed by the shape; its gradient joins the router's backward
// (kernels/cuda/router.h).
#pragma once

#include <cstdint>

namespace diverge::cuda {

// *loss (one device float, or added to it with accumulate) = (1 / rows) sum_t lse[t]^2, lse (rows) the router's
// logsumexp of each row of logits; 0 for no rows, as the CPU reference.
void router_z_loss(const float* lse, std::int64_t rows, float* loss, bool accumulate);


}  // namespace diverge::cuda
