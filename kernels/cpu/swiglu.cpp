// CPU SwiGLU: elementwise loops in parallel; silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g).
#include "kernels/cpu/swiglu.h"

#include <cmath>

#include "kernels/cpu/exp.h"

namespace diverge::cpu {

namespace {

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + exp_of(-x));
}

}  // namespace

template <class T>
void swiglu_forward(const T* gate, const T* up, std::int64_t n, T* out) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

template <class T>
void swiglu_backward(const T* dout, const T* gate, const T* up, std::int64_t n, T* dgate, T* dup) {
#pragma omp parallel for schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    const T g = gate[i];
    const T s = sigmoid(g);
    const T d = dout[i];
    dgate[i] = d * up[i] * s * (T(1) + g * (T(1) - s));
    dup[i] = d * g * s;
  }
}

template void swiglu_forward<float>(const float*, const float*, std::int64_t, float*);
template void swiglu_forward<double>(const double*, const double*, std::int64_t, double*);
template void swiglu_backward<float>(const float*, const float*, const float*, std::int64_t, float*, float*);
template void swiglu_backward<double>(const double*, const double*, const double*, std::int64_t, double*, double*);

}  // namespace diverge::cpu
