// CPU row softmax and its backward, shared by the router and the auxiliary routing losses.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// probs (rows, cols) = softmax of each row of logits (rows, cols).
template <class T>
void softmax_rows(const T* logits, std::int64_t rows, std::int64_t cols, T* probs);

// dlogits (rows, cols) += p * (dp - <dp, p>) per row: the gradient through a softmax, added because router logits
// collect gradients from gates, load balance, z-loss and EDL.
template <class T>
void softmax_backward_accumulate(const T* probs, const T* dprobs, std::int64_t rows, std::int64_t cols, T* dlogits);

}  // namespace diverge::cpu
