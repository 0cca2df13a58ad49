// CPU row logsumexp, softmax and its backward, shared by the cross-entropy, the router and the auxiliary routing
// losses.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// log(sum(exp(row))) of one row (n), shifted by its maximum so large values do not overflow.
template <class T>
T logsumexp(const T* row, std::int64_t n);

// probs (rows, cols) = softmax of each row of logits (rows, cols).
template <class T>
void softmax_rows(const T* logits, std::int64_t rows, std::int64_t cols, T* probs);

// dlogits (rows, cols) += p * (dp - <dp, p>) per row: the gradient through a softmax, added because router logits
// collect gradients from gates, load balance, z-loss and EDL.
template <class T>
void softmax_backward_accumulate(const T* probs, const T* dprobs, std::int64_t rows, std::int64_t cols, T* dlogits);

}  // namespace diverge::cpu
