// CPU expert FFN: experts one after another, each a handful of BLAS GEMMs over its contiguous rows (BLAS threads
// the GEMMs); experts with no rows are skipped.
#include "kernels/cpu/expert_ffn.h"

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/swiglu.h"

namespace diverge::cpu {

template <class T>
void expert_ffn_forward(const ExpertShape& s, const std::int32_t* offsets, const T* x, ExpertWeightPtrs<const T> w,
                        ExpertSavedPtrs<T> saved, T* out) {
  check_expert_offsets(s, offsets);
  const std::int64_t C = s.dim, F = s.hidden;
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = offsets[e], count = offsets[e + 1] - offsets[e];
    if (count == 0) continue;
    const GemmShape to_hidden{count, F, C, false, true};
    gemm(to_hidden, x + begin * C, w.gate + e * F * C, saved.gate + begin * F, false);
    gemm(to_hidden, x + begin * C, w.up + e * F * C, saved.up + begin * F, false);
    swiglu_forward(saved.gate + begin * F, saved.up + begin * F, count * F, saved.hidden + begin * F);
    gemm(GemmShape{count, C, F, false, true}, saved.hidden + begin * F, w.down + e * C * F, out + begin * C, false);
  }
}

template <class T>
void expert_ffn_backward(const ExpertShape& s, const std::int32_t* offsets, const T* x, ExpertWeightPtrs<const T> w,
                         ExpertSavedPtrs<const T> saved, const T* dout, T* dx, ExpertWeightPtrs<T> dw, T* dgate_work,
                         T* dup_work) {
  check_expert_offsets(s, offsets);
  const std::int64_t C = s.dim, F = s.hidden;
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = offsets[e], count = offsets[e + 1] - offsets[e];
    if (count == 0) continue;
    T* dgate = dgate_work + begin * F;
    T* dup = dup_work + begin * F;
    // d hidden lands in dgate_work, which swiglu_backward then overwrites in place with d gate.
    gemm_backward(GemmShape{count, C, F, false, true}, dout + begin * C, saved.hidden + begin * F, w.down + e * C * F,
                  dgate, false, dw.down + e * C * F, true);
    swiglu_backward(dgate, saved.gate + begin * F, saved.up + begin * F, count * F, dgate, dup);
    const GemmShape to_hidden{count, F, C, false, true};
    gemm_backward(to_hidden, dgate, x + begin * C, w.gate + e * F * C, dx + begin * C, false, dw.gate + e * F * C,
                  true);
    gemm_backward(to_hidden, dup, x + begin * C, w.up + e * F * C, dx + begin * C, true, dw.up + e * F * C, true);
  }
}

template void expert_ffn_forward<float>(const ExpertShape&, const std::int32_t*, const float*,
                                        ExpertWeightPtrs<const float>, ExpertSavedPtrs<float>, float*);
template void expert_ffn_forward<double>(const ExpertShape&, const std::int32_t*, const double*,
                                         ExpertWeightPtrs<const double>, ExpertSavedPtrs<double>, double*);
template void expert_ffn_backward<float>(const ExpertShape&, const std::int32_t*, const float*,
                                         ExpertWeightPtrs<const float>, ExpertSavedPtrs<const float>, const float*,
                                         float*, ExpertWeightPtrs<float>, float*, float*);
template void expert_ffn_backward<double>(const ExpertShape&, const std::int32_t*, const double*,
                                          ExpertWeightPtrs<const double>, ExpertSavedPtrs<const double>, const double*,
                                          double*, ExpertWeightPtrs<double>, double*, double*);

}  // namespace diverge::cpu
