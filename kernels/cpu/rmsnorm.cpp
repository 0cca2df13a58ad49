// CPU RMSNorm: rows in parallel; the weight gradient is reduced per column block so thread count never matters.
#include "kernels/cpu/rmsnorm.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/parallel.h"

namespace diverge::cpu {

template <class T>
void rmsnorm_forward(const T* x, const T* weight, std::int64_t rows, std::int64_t cols, T eps, T* y, T* rstd) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    T sum_squares = 0;
    for (std::int64_t c = 0; c < cols; ++c) sum_squares += xr[c] * xr[c];
    const T inv = T(1) / std::sqrt(sum_squares / static_cast<T>(cols) + eps);
    rstd[r] = inv;
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] = xr[c] * inv * weight[c];
  }
}

template <class T>
void rmsnorm_backward(const T* dy, const T* x, const T* weight, const T* rstd, std::int64_t rows, std::int64_t cols,
                      T* dx, T* dweight) {
  // dx_c = rstd * (w_c dy_c - x_c * rstd^2 * mean_j(w_j dy_j x_j))
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * cols;
    const T* dyr = dy + r * cols;
    T projection = 0;
    for (std::int64_t c = 0; c < cols; ++c) projection += weight[c] * dyr[c] * xr[c];
    const T inv = rstd[r];
    const T correction = inv * inv * projection / static_cast<T>(cols);
    for (std::int64_t c = 0; c < cols; ++c) dx[r * cols + c] = inv * (weight[c] * dyr[c] - xr[c] * correction);
  }
#pragma omp parallel for schedule(static)
  for (std::int64_t block = 0; block < block_count(cols, kColumnBlock); ++block) {
    const std::int64_t begin = block * kColumnBlock;
    const std::int64_t end = std::min(cols, begin + kColumnBlock);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = begin; c < end; ++c) dweight[c] += dy[r * cols + c] * x[r * cols + c] * rstd[r];
  }
}

template void rmsnorm_forward<float>(const float*, const float*, std::int64_t, std::int64_t, float, float*, float*);
template void rmsnorm_forward<double>(const double*, const double*, std::int64_t, std::int64_t, double, double*,
                                      double*);
template void rmsnorm_backward<float>(const float*, const float*, const float*, const float*, std::int64_t,
                                      std::int64_t, float*, float*);
template void rmsnorm_backward<double>(const double*, const double*, const double*, const double*, std::int64_t,
                                       std::int64_t, double*, double*);

}  // namespace diverge::cpu
