// Grouped products over expert-grouped rows on tensor cores, every expert in one launch, the row offsets read on the
// device: no host wait sizes them.
#pragma once

#include <cstdint>

#include "kernels/cuda/bf16_bits.h"
#include "kernels/expert_shape.h"

namespace diverge::cuda {

// R rows grouped by expert: expert e owns rows [offsets[e], offsets[e + 1]). offsets (experts + 1 int32) is device
// memory. The kernels clamp each offset into [0, R] and treat a decreasing pair as an empty expert, so malformed
// offsets give wrong rows but never an access outside the tensors.
struct GroupedRows {
  const std::int32_t* offsets;
  std::int64_t experts;
  std::int64_t rows;
};

// out (R, n) = a (R, k) W[e]^T over each expert's rows; w (experts, n, k).
void grouped_product(const GroupedRows& g, const bf16_bits* a, const bf16_bits* w, std::int64_t n, std::int64_t k,
                     bf16_bits* out);

// The SwiGLU expert's first half in one product: gate = x W_gate[e]^T and up = x W_up[e]^T (w_gate, w_up
// (experts, hidden, dim)), each rounded to bf16, and hidden = silu(gate) * up from those rounded values, as the
// backward reads them; x's R rows (dim wide) as ExpertInputPtrs reads them, gathered on the way into shared memory;
// saved (R, hidden). A gathered row naming a token outside x reads as zeros.
void grouped_swiglu_forward(const GroupedRows& g, ExpertInputPtrs<const bf16_bits> x, const bf16_bits* w_gate,
                            const bf16_bits* w_up, std::int64_t hidden, std::int64_t dim,
                            ExpertSavedPtrs<bf16_bits> saved);

// d hidden = dout W_down[e] in fp32 (dout (R, dim), w_down (experts, dim, hidden)), then SwiGLU's backward at the
// saved gate and up: dgate and dup (R, hidden) overwritten, each rounded once.
void grouped_swiglu_backward(const GroupedRows& g, const bf16_bits* dout, const bf16_bits* w_down, std::int64_t hidden,
                             std::int64_t dim, const bf16_bits* gate, const bf16_bits* up, bf16_bits* dgate,
                             bf16_bits* dup);

// dx (R, dim) = dgate W_gate[e] + dup W_up[e], one product over the concatenated hidden dims in fp32, rounded once;
// dgate and dup (R, hidden), w_gate and w_up (experts, hidden, dim).
void grouped_input_gradient(const GroupedRows& g, const bf16_bits* dgate, const bf16_bits* dup,
                            const bf16_bits* w_gate, const bf16_bits* w_up, std::int64_t hidden, std::int64_t dim,
                            bf16_bits* dx);

// dw[e] (m, n, fp32) += grad[rows of e]^T x[rows of e] for grad (R, m) and x's R rows (n wide, read as
// ExpertInputPtrs says): each element summed over the expert's rows in row order by one block, no atomics; an expert
// without rows leaves its dw as it was.
void grouped_weight_gradient(const GroupedRows& g, const bf16_bits* grad, ExpertInputPtrs<const bf16_bits> x,
                             std::int64_t m, std::int64_t n, float* dw);

}  // namespace diverge::cuda
