// CUDA softmax cross-entropy over fp32 logits (the LM head writes its logits in fp32 for the logsumexp).
#pragma once

#include <cstdint>

namespace diverge::cuda {

// lse (n) = logsumexp of each row of logits (n, vocab); row_loss (n) = lse - logits[target], 0 for an ignored
// target (-1). A target outside [0, vocab) that is not -1 makes its row's loss NaN: the training step's non-finite
// check stops on it without a host round trip (the loader has already refused such tokens).
void cross_entropy_forward(const float* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab,
                           float* lse, float* row_loss);

// dlogits (n, vocab) = weight * (softmax(logits) - onehot(target)), zero rows for ignored targets, NaN rows for
// targets outside the vocabulary; dlogits may be logits itself.
void cross_entropy_backward(const float* logits, const std::int32_t* targets, const float* lse, std::int64_t n,
                            std::int64_t vocab, float weight, float* dlogits);

// *out (one device float) = scale * the sum of values (n), in double on one block in a fixed order; with accumulate
// the result is added to *out instead.
void scaled_sum(const float* values, std::int64_t n, float scale, float* out, bool accumulate);

}  // namespace diverge::cuda
