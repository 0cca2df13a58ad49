// CPU router z-loss: the router's per-token logsumexp squared and summed over tokens in order; the gradient
// recomputes it from the logits.
#include "kernels/cpu/z_loss.h"

#include <cmath>

#include "kernels/cpu/exp.h"
#include "kernels/cpu/softmax.h"

namespace diverge::cpu {

template <class T>
T router_z_loss(const T* lse, std::int64_t tokens) {
  double total = 0.0;
  for (std::int64_t t = 0; t < tokens; ++t) total += static_cast<double>(lse[t]) * static_cast<double>(lse[t]);
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

template float router_z_loss<float>(const float*, std::int64_t);
template double router_z_loss<double>(const double*, std::int64_t);
template void router_z_loss_backward<float>(const float*, std::int64_t, std::int64_t, float, float*);
template void router_z_loss_backward<double>(const double*, std::int64_t, std::int64_t, double, double*);

}  // namespace diverge::cpu
