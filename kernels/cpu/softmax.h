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

// dlogits (cols) = (accumulate ? dlogits : 0) + p * (dp - <dp, p> + shift) for one row p (cols): the gradient
// through a softmax of dp (cols), plus shift times p, the form of the router z-loss's gradient.
template <class T>
void softmax_backward_row(const T* p, const T* dp, std::int64_t cols, T shift, bool accumulate, T* dlogits);

}  // namespace diverge::cpu
