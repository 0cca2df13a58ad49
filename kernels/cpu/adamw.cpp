// CPU AdamW: one elementwise pass, parallel; the bias corrections are computed once per step.
#include "kernels/cpu/adamw.h"

#include <cmath>

namespace diverge::cpu {

template <class T>
void adamw_step(const AdamWHyper<T>& h, std::int64_t n, T* params, const T* grads, T* m, T* v) {
  const T step = static_cast<T>(h.step);
  const T correction1 = T(1) - std::pow(h.beta1, step);
  const T correction2 = T(1) - std::pow(h.beta2, step);
  const T decay = T(1) - h.lr * h.weight_decay;
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = grads[i] * h.grad_scale;
    m[i] = h.beta1 * m[i] + (T(1) - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (T(1) - h.beta2) * g * g;
    const T m_hat = m[i] / correction1;
    const T v_hat = v[i] / correction2;
    params[i] = params[i] * decay - h.lr * m_hat / (std::sqrt(v_hat) + h.eps);
  }
}

template void adamw_step<float>(const AdamWHyper<float>&, std::int64_t, float*, const float*, float*, float*);
template void adamw_step<double>(const AdamWHyper<double>&, std::int64_t, double*, const double*, double*, double*);

}  // namespace diverge::cpu
