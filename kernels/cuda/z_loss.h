// CUDA router z-loss in fp32 and its gradient into the router logits, in orders fixed by the shape.
#pragma once

#include <cstdint>

namespace diverge::cuda {

// *loss (one device float, or added to it with accumulate) = (1 / rows) sum_t lse[t]^2, lse (rows) the router's
// logsumexp of each row of logits; 0 for no rows, as the CPU reference.
void router_z_loss(const float* lse, std::int64_t rows, float* loss, bool accumulate);

// dlogits (rows, experts) += dloss * (2 / rows) * logsumexp(logits[t]) * softmax(logits[t]).
void router_z_loss_backward(const float* logits, std::int64_t rows, std::int64_t experts, float dloss,
                            float* dlogits);

}  // namespace diverge::cuda
