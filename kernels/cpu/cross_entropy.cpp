// CPU cross-entropy: per-row logsumexp and loss in parallel; sums run in index order (deterministic).
#include "kernels/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/exp.h"
#include "kernels/cpu/indices.h"
#include "kernels/cpu/softmax.h"

namespace diverge::cpu {

template <class T>
void cross_entropy_forward(const T* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab, T* lse,
                           T* row_loss) {
  check_indices("cross_entropy", "target", targets, n, vocab, kIgnoreTarget);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const T* row = logits + i * vocab;
    lse[i] = logsumexp(row, vocab);
    row_loss[i] = targets[i] == kIgnoreTarget ? T(0) : lse[i] - row[targets[i]];
  }
}

template <class T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* lse, std::int64_t n,
                            std::int64_t vocab, T weight, T* dlogits) {
  check_indices("cross_entropy_backward", "target", targets, n, vocab, kIgnoreTarget);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const T* row = logits + i * vocab;
    T* grad = dlogits + i * vocab;
    if (targets[i] == kIgnoreTarget) {
      std::fill_n(grad, vocab, T(0));
      continue;
    }
    for (std::int64_t v = 0; v < vocab; ++v) grad[v] = weight * exp_of(row[v] - lse[i]);
    grad[targets[i]] -= weight;
  }
}

template <class T>
double scaled_sum(const T* values, std::int64_t n, double scale) {
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) total += static_cast<double>(values[i]);
  return scale * total;
}

template void cross_entropy_forward<float>(const float*, const std::int32_t*, std::int64_t, std::int64_t, float*,
                                           float*);
template void cross_entropy_forward<double>(const double*, const std::int32_t*, std::int64_t, std::int64_t, double*,
                                            double*);
template void cross_entropy_backward<float>(const float*, const std::int32_t*, const float*, std::int64_t, std::int64_t,
                                            float, float*);
template void cross_entropy_backward<double>(const double*, const std::int32_t*, const double*, std::int64_t,
                                             std::int64_t, double, double*);
template double scaled_sum<float>(const float*, std::int64_t, double);
template double scaled_sum<double>(const double*, std::int64_t, double);

}  // namespace diverge::cpu
