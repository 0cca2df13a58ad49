// LM head: logits chunk by chunk, their cross-entropy rows, and the backward that recomputes the chunks it needs.
#include "model/lm_head.h"

#include <algorithm>
#include <string>

#include "engine/error.h"

namespace diverge::model {
namespace {

struct Chunk {
  std::int64_t begin;
  std::int64_t end;
};

std::int64_t chunk_count(std::int64_t tokens, std::int64_t rows) { return (tokens + rows - 1) / rows; }

Chunk chunk_at(std::int64_t index, std::int64_t tokens, std::int64_t rows) {
  return {index * rows, std::min(tokens, (index + 1) * rows)};
}

// The chunk's logits (rows, V) in the front of the chunk buffer.
Tensor chunk_logits(const LmHeadActs& acts, Chunk c) { return acts.logits.slice_rows(0, c.end - c.begin); }

void chunk_forward(const Tensor& x, const Tensor& weight, const Tensor& targets, const LmHeadActs& acts, Chunk c) {
  const Tensor logits = chunk_logits(acts, c);
  ops::matmul(x.slice_rows(c.begin, c.end), weight, logits, false, true);
  ops::cross_entropy(logits, targets.slice_rows(c.begin, c.end), acts.lse.slice_rows(c.begin, c.end),
                     acts.row_loss.slice_rows(c.begin, c.end));
}

}  // namespace

std::int64_t logit_chunk_rows(std::int64_t chunk, std::int64_t tokens, std::int64_t vocab) {
  check(chunk >= 0, "train.logit_chunk", "must be >= 0 (0 = automatic), got " + std::to_string(chunk));
  const std::int64_t wanted = chunk > 0 ? chunk : kAutoLogitBytes / (vocab * static_cast<std::int64_t>(sizeof(float)));
  return std::clamp<std::int64_t>(wanted, 1, std::max<std::int64_t>(tokens, 1));
}

LmHeadActs allocate_lm_head(Buffers& buffers, std::int64_t tokens, std::int64_t vocab, std::int64_t chunk_rows) {
  LmHeadActs a;
  a.logits = buffers.f32({chunk_rows, vocab});
  a.lse = buffers.f32({tokens});
  a.row_loss = buffers.f32({tokens});
  return a;
}

void lm_head_forward(const Tensor& x, const Tensor& weight, const Tensor& targets, float target_weight,
                     const LmHeadActs& acts, const Tensor& loss, ops::Write write) {
  const std::int64_t tokens = x.dim(0), rows = acts.logits.dim(0);
  for (std::int64_t i = 0; i < chunk_count(tokens, rows); ++i)
    chunk_forward(x, weight, targets, acts, chunk_at(i, tokens, rows));
  ops::scaled_sum(acts.row_loss, target_weight, loss, write);
}

void lm_head_backward(const Tensor& x, const Tensor& weight, const Tensor& targets, float target_weight,
                      const LmHeadActs& acts, const Tensor& dx, const Tensor& dweight) {
  const std::int64_t tokens = x.dim(0), rows = acts.logits.dim(0);
  const std::int64_t chunks = chunk_count(tokens, rows);
  for (std::int64_t i = chunks - 1; i >= 0; --i) {
    const Chunk c = chunk_at(i, tokens, rows);
    if (i != chunks - 1) chunk_forward(x, weight, targets, acts, c);
    const Tensor logits = chunk_logits(acts, c), chunk_x = x.slice_rows(c.begin, c.end);
    ops::cross_entropy_backward(logits, targets.slice_rows(c.begin, c.end), acts.lse.slice_rows(c.begin, c.end),
                                target_weight, logits);
    ops::matmul_backward(logits, chunk_x, weight, dx.slice_rows(c.begin, c.end), dweight, false, true,
                         ops::Write::overwrite, ops::Write::accumulate);
  }
}

}  // namespace diverge::model
