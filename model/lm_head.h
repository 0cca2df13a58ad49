// The LM head and its cross-entropy over chunks of rows: at most (R, V) fp32 logits exist at any time.
#pragma once

#include <cstdint>

#include "engine/buffers.h"
#include "kernels/ops.h"

namespace diverge::model {

// R, the rows per chunk: `chunk` (train.logit_chunk) or, for 0, as many as kAutoLogitBytes of fp32 logits hold;
// at most N and at least 1. Monotone in N, so a plan for the largest micro-batch covers every smaller one.
inline constexpr std::int64_t kAutoLogitBytes = std::int64_t{256} << 20;
std::int64_t logit_chunk_rows(std::int64_t chunk, std::int64_t tokens, std::int64_t vocab);

struct LmHeadActs {
  Tensor logits;    // (R, V) f32: the last chunk's logits; the backward turns each chunk into its gradient in place
  Tensor lse;       // (N) f32
  Tensor row_loss;  // (N) f32: -log softmax(logits)[target], 0 for ignored targets
};

LmHeadActs allocate_lm_head(Buffers& buffers, std::int64_t tokens, std::int64_t vocab, std::int64_t chunk_rows);

// For x (N, C) and the head's weight (V, C): lse and row_loss of every row, chunk after chunk; then loss (1) f32
// (+)= target_weight * the sum of row_loss (target_weight = 1 / targets counted: the mean).
void lm_head_forward(const Tensor& x, const Tensor& weight, const Tensor& targets, float target_weight,
                     const LmHeadActs& acts, const Tensor& loss, ops::Write write);
// dx (N, C) = d loss / d x, dweight (V, C) += d loss / d weight. Chunks run last to first: the last one's logits are
// still in acts.logits from the forward pass, the others are recomputed (none when one chunk holds every row).
void lm_head_backward(const Tensor& x, const Tensor& weight, const Tensor& targets, float target_weight,
                      const LmHeadActs& acts, const Tensor& dx, const Tensor& dweight);

}  // namespace diverge::model
