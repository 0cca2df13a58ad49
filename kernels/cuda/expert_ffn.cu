// CUDA expert FFN: each expert with rows runs its products through cuda::gemm; SwiGLU and its backward run once over
// all rows, since the grouped rows of every expert are contiguous.
#include "kernels/cuda/expert_ffn.h"

#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/swiglu.h"

namespace diverge::cuda {

void expert_ffn_forward(const ExpertShape& s, const std::int32_t* host_offsets, const bf16_bits* x,
                        ExpertWeightPtrs<const bf16_bits> w, ExpertSavedPtrs<bf16_bits> saved, bf16_bits* out) {
  check_expert_offsets(s, host_offsets);
  const std::int64_t C = s.dim, F = s.hidden;
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = host_offsets[e], count = host_offsets[e + 1] - begin;
    if (count == 0) continue;
    const GemmShape to_hidden{count, F, C, false, true};
    gemm(to_hidden, x + begin * C, w.gate + e * F * C, saved.gate + begin * F, Result::bf16, false);
    gemm(to_hidden, x + begin * C, w.up + e * F * C, saved.up + begin * F, Result::bf16, false);
  }
  swiglu_forward(saved.gate, saved.up, s.rows * F, saved.hidden);
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = host_offsets[e], count = host_offsets[e + 1] - begin;
    if (count == 0) continue;
    gemm(GemmShape{count, C, F, false, true}, saved.hidden + begin * F, w.down + e * C * F, out + begin * C,
         Result::bf16, false);
  }
}

void expert_ffn_backward(const ExpertShape& s, const std::int32_t* host_offsets, const bf16_bits* x,
                         ExpertWeightPtrs<const bf16_bits> w, ExpertSavedPtrs<const bf16_bits> saved,
                         const bf16_bits* dout, bf16_bits* dx, ExpertWeightPtrs<float> dw, bf16_bits* dgate_work,
                         bf16_bits* dup_work) {
  check_expert_offsets(s, host_offsets);
  const std::int64_t C = s.dim, F = s.hidden;
  // d hidden lands in dgate_work, which swiglu_backward then overwrites in place with d gate.
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = host_offsets[e], count = host_offsets[e + 1] - begin;
    if (count == 0) continue;
    gemm_backward(GemmShape{count, C, F, false, true}, dout + begin * C, saved.hidden + begin * F, w.down + e * C * F,
                  {dgate_work + begin * F, Result::bf16, false}, {dw.down + e * C * F, Result::f32, true});
  }
  swiglu_backward(dgate_work, saved.gate, saved.up, s.rows * F, dgate_work, dup_work);
  // dx sums the gate and up paths in fp32 before its one rounding.
  static Scratch dx_sum("expert_ffn_backward dx in fp32");
  float* dx32 = dx_sum.get<float>(static_cast<std::size_t>(s.rows * C));
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = host_offsets[e], count = host_offsets[e + 1] - begin;
    if (count == 0) continue;
    const GemmShape to_hidden{count, F, C, false, true};
    gemm_backward(to_hidden, dgate_work + begin * F, x + begin * C, w.gate + e * F * C,
                  {dx32 + begin * C, Result::f32, false}, {dw.gate + e * F * C, Result::f32, true});
    gemm_backward(to_hidden, dup_work + begin * F, x + begin * C, w.up + e * F * C,
                  {dx32 + begin * C, Result::f32, true}, {dw.up + e * F * C, Result::f32, true});
  }
  round_to_bf16(dx32, s.rows * C, dx);
}

}  // namespace diverge::cuda
