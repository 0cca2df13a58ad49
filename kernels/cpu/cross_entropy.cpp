// CPU cross-entropy: per-row logsumexp in parallel; the loss is summed over rows in order (deterministic).
#include "kernels/cpu/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/exp.h"
#include "kernels/cpu/indices.h"
#include "kernels/cpu/softmax.h"

namespace diverge::cpu {

namespace {

std::int64_t count_targets(const std::int32_t* targets, std::int64_t n) {
  return std::count_if(targets, targets + n, [](std::int32_t t) { return t != kIgnoreTarget; });
}

}  // namespace

template <class T>
T cross_entropy_forward(const T* logits, const std::int32_t* targets, std::int64_t n, std::int64_t vocab, T* lse) {
  check_indices("cross_entropy", "target", targets, n, vocab, kIgnoreTarget);
  std::vector<double> row_loss(static_cast<std::size_t>(n), 0.0);  // (n)
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const T* row = logits + i * vocab;
    lse[i] = logsumexp(row, vocab);
    if (targets[i] != kIgnoreTarget) row_loss[i] = static_cast<double>(lse[i] - row[targets[i]]);
  }
  const std::int64_t count = count_targets(targets, n);
  double total = 0.0;
  for (double loss : row_loss) total += loss;
  return count == 0 ? T(0) : static_cast<T>(total / static_cast<double>(count));
}

template <class T>
void cross_entropy_backward(const T* logits, const std::int32_t* targets, const T* lse, std::int64_t n,
                            std::int64_t vocab, T dloss, T* dlogits) {
  check_indices("cross_entropy_backward", "target", targets, n, vocab, kIgnoreTarget);
  const std::int64_t count = count_targets(targets, n);
  const T scale = count == 0 ? T(0) : dloss / static_cast<T>(count);
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const T* row = logits + i * vocab;
    T* grad = dlogits + i * vocab;
    if (targets[i] == kIgnoreTarget) {
      std::fill_n(grad, vocab, T(0));
      continue;
    }
    for (std::int64_t v = 0; v < vocab; ++v) grad[v] = scale * exp_of(row[v] - lse[i]);
    grad[targets[i]] -= scale;
  }
}

template float cross_entropy_forward<float>(const float*, const std::int32_t*, std::int64_t, std::int64_t, float*);
template double cross_entropy_forward<double>(const double*, const std::int32_t*, std::int64_t, std::int64_t, double*);
template void cross_entropy_backward<float>(const float*, const std::int32_t*, const float*, std::int64_t, std::int64_t,
                                            float, float*);
template void cross_entropy_backward<double>(const double*, const std::int32_t*, const double*, std::int64_t,
                                             std::int64_t, double, double*);

}  // namespace diverge::cpu
