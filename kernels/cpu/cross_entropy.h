// CPU fused softmax cross-entropy over a vocabulary: per-row losses and logsumexps, and the gradient.
#pragma once

#include <cstdint>

namespace diverge::cpu {

constexpr std::int32_t kIgnoreTarget = -1;

// lse (n) = logsumexp of each row of logits (n, vocab); row_loss (n) = lse - logits[i][targets[i]], 0 where the
// target is the ignore index (-1). Throws Error on a target outside [0, vocab) and not -1.
template <class T>
void cross_entropy_forward(const T* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab, T* lse,
                           T* row_loss);

// dlogits (n, vocab) = weight * (softmax(logits) - onehot(target)), zero rows for ignored targets; with weight =
// 1 / (targets counted) it is the gradient of the mean. dlogits may alias logits (each element is read before it is
// written).
template <class T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* lse, std::int64_t n,
                            std::int64_t vocab, T weight, T* dlogits);

// scale * the sum of values (n), summed in double in index order (the same bits for any thread count).
template <class T>
double scaled_sum(const T* values, std::int64_t n, double scale);

}  // namespace diverge::cpu
