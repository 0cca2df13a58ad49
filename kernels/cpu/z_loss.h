// CPU router z-loss: mean over tokens of logsumexp(logits)^2, keeping router logits small. Its gradient joins the
// router's backward (kernels/cpu/router.h).
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Returns (1 / tokens) * sum_t lse[t]^2, lse (tokens) the router's logsumexp of each token's logits; squares summed
// in order in double.
template <class T>
T router_z_loss(const T* lse, std::int64_t tokens);

}  // namespace diverge::cpu
