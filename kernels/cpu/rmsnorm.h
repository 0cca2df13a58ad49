// CPU RMSNorm over the last dimension: y = x / sqrt(mean(x^2) + eps) * weight, with its backward.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// y (rows, cols) and rstd (rows) = 1 / sqrt(mean(x^2) + eps), saved for the backward pass.
template <class T>
void rmsnorm_forward(const T* x, const T* weight, std::int64_t rows, std::int64_t cols, T eps, T* y, T* rstd);

// dx (rows, cols) is overwritten; dweight (cols) is added to.
template <class T>
void rmsnorm_backward(const T* dy, const T* x, const T* weight, const T* rstd, std::int64_t rows, std::int64_t cols,
                      T* dx, T* dweight);

}  // namespace diverge::cpu
