// CPU expert FFN: experts one after another, each a handful of BLAS GEMMs over its contiguous rows (BLAS threads
// the GEMMs); experts with no rows are skipped. Gathered input rows are copied one expert at a time, so that the
// grouped copy of the tokens never exists whole.
#include "kernels/cpu/expert_ffn.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/swiglu.h"

namespace diverge::cpu {
namespace {

// The input rows [begin, begin + count) of an expert, (count, dim): x's own rows, or those rows gathered from the
// tokens into `gathered`.
template <class T>
const T* expert_input(const ExpertInputPtrs<const T>& in, std::int64_t dim, std::int64_t begin, std::int64_t count,
                      std::vector<T>& gathered) {
  if (in.copy_of_row == nullptr) return in.x + begin * dim;
  gathered.resize(static_cast<std::size_t>(count * dim));
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < count; ++r)
    std::copy_n(in.x + (in.copy_of_row[begin + r] / in.top_k) * dim, dim, gathered.data() + r * dim);
  return gathered.data();
}

}  // namespace

template <class T>
void expert_ffn_forward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const T> input,
                        ExpertWeightPtrs<const T> w, ExpertSavedPtrs<T> saved, T* out) {
  check_expert_offsets(s, offsets);
  check_expert_input(s, input);
  const std::int64_t C = s.dim, F = s.hidden;
  std::vector<T> gathered;
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = offsets[e], count = offsets[e + 1] - offsets[e];
    if (count == 0) continue;
    const T* x = expert_input(input, C, begin, count, gathered);  // (count, C)
    const GemmShape to_hidden{count, F, C, false, true};
    gemm(to_hidden, x, w.gate + e * F * C, saved.gate + begin * F, false);
    gemm(to_hidden, x, w.up + e * F * C, saved.up + begin * F, false);
    swiglu_forward(saved.gate + begin * F, saved.up + begin * F, count * F, saved.hidden + begin * F);
    gemm(GemmShape{count, C, F, false, true}, saved.hidden + begin * F, w.down + e * C * F, out + begin * C, false);
  }
}

template <class T>
void expert_ffn_backward(const ExpertShape& s, const std::int32_t* offsets, ExpertInputPtrs<const T> input,
                         ExpertWeightPtrs<const T> w, ExpertSavedPtrs<const T> saved, const T* dout, T* dx,
                         ExpertWeightPtrs<T> dw, T* dgate_work, T* dup_work) {
  check_expert_offsets(s, offsets);
  check_expert_input(s, input);
  const std::int64_t C = s.dim, F = s.hidden;
  std::vector<T> gathered;
  for (std::int64_t e = 0; e < s.experts; ++e) {
    const std::int64_t begin = offsets[e], count = offsets[e + 1] - offsets[e];
    if (count == 0) continue;
    const T* x = expert_input(input, C, begin, count, gathered);  // (count, C)
    T* dgate = dgate_work + begin * F;
    T* dup = dup_work + begin * F;
    // d hidden lands in dgate_work, which swiglu_backward then overwrites in place with d gate.
    gemm_backward(GemmShape{count, C, F, false, true}, dout + begin * C, saved.hidden + begin * F, w.down + e * C * F,
                  dgate, false, dw.down + e * C * F, true);
    swiglu_backward(dgate, saved.gate + begin * F, saved.up + begin * F, count * F, dgate, dup);
    const GemmShape to_hidden{count, F, C, false, true};
    gemm_backward(to_hidden, dgate, x, w.gate + e * F * C, dx + begin * C, false, dw.gate + e * F * C,
                  true);
    gemm_backward(to_hidden, dup, x, w.up + e * F * C, dx + begin * C, true, dw.up + e * F * C, true);
  }
}

template void expert_ffn_forward<float>(const ExpertShape&, const std::int32_t*, ExpertInputPtrs<const float>,
                                        ExpertWeightPtrs<const float>, ExpertSavedPtrs<float>, float*);
template void expert_ffn_forward<double>(const ExpertShape&, const std::int32_t*, ExpertInputPtrs<const double>,
                                         ExpertWeightPtrs<const double>, ExpertSavedPtrs<double>, double*);
template void expert_ffn_backward<float>(const ExpertShape&, const std::int32_t*, ExpertInputPtrs<const float>,
                                         ExpertWeightPtrs<const float>, ExpertSavedPtrs<const float>, const float*,
                                         float*, ExpertWeightPtrs<float>, float*, float*);
template void expert_ffn_backward<double>(const ExpertShape&, const std::int32_t*, ExpertInputPtrs<const double>,
                                          ExpertWeightPtrs<const double>, ExpertSavedPtrs<const double>, const double*,
                                          double*, ExpertWeightPtrs<double>, double*, double*);

}  // namespace diverge::cpu
