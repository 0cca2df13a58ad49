// CPU gradient norm: per-block partial sums (fixed block size, not per thread) reduced in block order.
#include "kernels/cpu/grad_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace diverge::cpu {

namespace {

constexpr std::int64_t kSumBlock = 1 << 14;

}  // namespace

template <class T>
double sum_of_squares(const T* x, std::int64_t n) {
  const std::int64_t blocks = block_count(n, kSumBlock);
  std::vector<double> partial(static_cast<std::size_t>(blocks), 0.0);  // (blocks)
#pragma omp parallel for schedule(static)
  for (std::int64_t b = 0; b < blocks; ++b) {
    double sum = 0.0;
    for (std::int64_t i = b * kSumBlock; i < std::min(n, (b + 1) * kSumBlock); ++i) {
      const double value = static_cast<double>(x[i]);
      sum += value * value;
    }
    partial[b] = sum;
  }
  double total = 0.0;
  for (double sum : partial) total += sum;
  return total;
}

template <class T>
T clip_grad_norm(T* grads, std::int64_t n, T max_norm) {
  const T norm = static_cast<T>(std::sqrt(sum_of_squares(grads, n)));
  const T factor = max_norm / (norm + T(1e-6));
  if (factor < T(1)) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) grads[i] *= factor;
  }
  return norm;
}

template double sum_of_squares<float>(const float*, std::int64_t);
template double sum_of_squares<double>(const double*, std::int64_t);
template float clip_grad_norm<float>(float*, std::int64_t, float);
template double clip_grad_norm<double>(double*, std::int64_t, double);

}  // namespace diverge::cpu
