// CPU AdamW over a flat parameter block (decoupled weight decay, bias correction).
#pragma once

#include <cstdint>

namespace diverge::cpu {

template <class T>
struct AdamWHyper {
  T lr;
  T beta1;
  T beta2;
  T eps;
  T weight_decay;
  std::int64_t step;  // 1 for the first update; drives the bias correction
  T grad_scale = 1;   // g = grads[i] * grad_scale: the mean and clip applied while reading, not in a pass of their own
};

// For each i, as torch.optim.AdamW: p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps). params, m, v (n) updated; grads (n) read.
template <class T>
void adamw_step(const AdamWHyper<T>& h, std::int64_t n, T* params, const T* grads, T* m, T* v);

}  // namespace diverge::cpu
