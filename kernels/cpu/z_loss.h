// CPU router z-loss: mean over tokens of logsumexp(logits)^2, keeping router logits small.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Returns (1 / tokens) * sum_t lse[t]^2, lse (tokens) the router's logsumexp of each token's logits; squares summed
// in order in double.
template <class T>
T router_z_loss(const T* lse, std::int64_t tokens);

// dlogits (tokens, experts) += dloss * (2 / tokens) * logsumexp(logits[t]) * softmax(logits[t]).
template <class T>
void router_z_loss_backward(const T* logits, std::int64_t tokens, std::int64_t experts, T dloss, T* dlogits);

}  // namespace diverge::cpu
