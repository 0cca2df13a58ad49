// CPU router z-loss: per-token logsumexp in parallel, summed over tokens in order.
#include "kernels/cpu/z_loss.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/exp.h"
#include "kernels/cpu/softmax.h"

namespace diverge::cpu {

template <class T>
T router_z_loss(const T* logits, std::int64_t tokens, std::int64_t experts) {
  std::vector<double> squares(static_cast<std::size_t>(tokens));  // (tokens)
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const double lse = static_cast<double>(logsumexp(logits + t * experts, experts));
    squares[t] = lse * lse;
  }
  double total = 0.0;
  for (double square : squares) total += square;
  return tokens == 0 ? T(0) : static_cast<T>(total / static_cast<double>(tokens));
}

template <class T>
void router_z_loss_backward(const T* logits, std::int64_t tokens, std::int64_t experts, T dloss, T* dlogits) {
  const T scale = tokens == 0 ? T(0) : dloss * T(2) / static_cast<T>(tokens);
#pragma omp parallel for schedule(static)
  for (std::int64_t t = 0; t < tokens; ++t) {
    const T* row = logits + t * experts;
    const T lse = logsumexp(row, experts);
    for (std::int64_t e = 0; e < experts; ++e) dlogits[t * experts + e] += scale * lse * exp_of(row[e] - lse);
  }
}

template float router_z_loss<float>(const float*, std::int64_t, std::int64_t);
template double router_z_loss<double>(const double*, std::int64_t, std::int64_t);
template void router_z_loss_backward<float>(const float*, std::int64_t, std::int64_t, float, float*);
template void router_z_loss_backward<double>(const double*, std::int64_t, std::int64_t, double, double*);

}  // namespace diverge::cpu
