// CPU global gradient norm and clipping over a flat gradient block, deterministic for any thread count.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// sum_i x_i^2 in double, summed in fixed-size blocks whose partial sums are added in order.
template <class T>
double sum_of_squares(const T* x, std::int64_t n);

// Scales grads (n) by max_norm / (norm + 1e-6) when that is below 1 (as torch.nn.utils.clip_grad_norm_) and
// returns the norm before clipping.
template <class T>
T clip_grad_norm(T* grads, std::int64_t n, T max_norm);

}  // namespace diverge::cpu
