// CUDA softmax cross-entropy over fp32 logits (the LM head writes its logits in fp32 for the logsumexp).
#pragma once

#include <cstdint>

namespace diverge::cuda {

// loss (1 device float) = mean over rows whose target is not -1 of lse - logits[target], 0 when all are ignored;
// lse (n) = logsumexp of each row of logits (n, vocab). A target outside [0, vocab) that is not -1 makes its row's
// loss, and so the mean, NaN: the training step's non-finite check stops on it without a host round trip (the
// loader has already refused such tokens).
void cross_entropy_forward(const float* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab,
                           float* lse, float* loss);

// dlogits (n, vocab) = dloss * (softmax(logits) - onehot(target)) / count, zero rows for ignored targets, NaN rows
// for targets outside the vocabulary; dlogits may be logits itself.
void cross_entropy_backward(const float* logits, const std::int32_t* targets, const float* lse, std::int64_t n,
                            std::int64_t vocab, float dloss, float* dlogits);

}  // namespace diverge::cuda
