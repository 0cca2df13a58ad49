// CPU fused softmax cross-entropy over a vocabulary, mean over targets that are not the ignore index (-1).
#pragma once

#include <cstdint>

namespace diverge::cpu {

constexpr std::int32_t kIgnoreTarget = -1;

// Returns mean_{i : targets[i] != -1} (lse_i - logits[i][targets[i]]), 0 when every target is ignored; writes
// lse (n) = logsumexp of each row of logits (n, vocab). Throws Error on a target outside [0, vocab) and not -1.
template <class T>
T cross_entropy_forward(const T* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab, T* lse);

// dlogits (n, vocab) = dloss * (softmax(logits) - onehot(target)) / count, zero rows for ignored targets.
// dlogits may alias logits (each element is read before it is written).
template <class T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* lse, std::int64_t n,
                            std::int64_t vocab, T dloss, T* dlogits);

}  // namespace diverge::cpu
