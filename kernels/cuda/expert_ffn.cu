// CUDA expert FFN: five grouped products over all experts' rows (grouped_gemm.h), SwiGLU and its backward fused into
// the epilogues of the gate-and-up product and the d hidden product, a gather of the input rows into the loads of
// the two products that read them.
#include "kernels/cuda/expert_ffn.h"

#include "kernels/cuda/grouped_gemm.h"

namespace diverge::cuda {

void expert_ffn_forward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const bf16_bits> x,
                        ExpertWeightPtrs<const bf16_bits> w, ExpertSavedPtrs<bf16_bits> saved, bf16_bits* out) {
  const GroupedRows g{offsets, s.experts, s.rows};
  grouped_swiglu_forward(g, x, w.gate, w.up, s.hidden, s.dim, saved);
  grouped_product(g, saved.hidden, w.down, s.dim, s.hidden, out);
}

void expert_ffn_backward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const bf16_bits> x,
                         ExpertWeightPtrs<const bf16_bits> w, ExpertSavedPtrs<const bf16_bits> saved,
                         const bf16_bits* dout, bf16_bits* dx, ExpertWeightPtrs<float> dw, bf16_bits* dgate_work,
                         bf16_bits* dup_work) {
  const GroupedRows g{offsets, s.experts, s.rows};
  grouped_swiglu_backward(g, dout, w.down, s.hidden, s.dim, saved.gate, saved.up, dgate_work, dup_work);
  grouped_input_gradient(g, dgate_work, dup_work, w.gate, w.up, s.hidden, s.dim, dx);
  grouped_weight_gradient(g, dout, grouped_input(saved.hidden, s.rows), s.dim, s.hidden, dw.down);
  grouped_weight_gradient(g, dgate_work, x, s.hidden, s.dim, dw.gate);
  grouped_weight_gradient(g, dup_work, x, s.hidden, s.dim, dw.up);
}

}  // namespace diverge::cuda
