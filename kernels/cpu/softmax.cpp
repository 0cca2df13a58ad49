// CPU row softmax (max-shifted, rows in parallel) and the softmax backward of one row.
#include "kernels/cpu/softmax.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/exp.h"

namespace diverge::cpu {

template <class T>
T logsumexp(const T* row, std::int64_t n) {
  const T max_value = *std::max_element(row, row + n);
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t i = 0; i < n; ++i) sum += exp_of(row[i] - max_value);
  return max_value + std::log(sum);
}

template <class T>
void softmax_rows(const T* logits, std::int64_t rows, std::int64_t cols, T* probs) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* z = logits + r * cols;
    T* p = probs + r * cols;
    const T max_logit = *std::max_element(z, z + cols);
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t c = 0; c < cols; ++c) {
      p[c] = exp_of(z[c] - max_logit);
      sum += p[c];
    }
    for (std::int64_t c = 0; c < cols; ++c) p[c] /= sum;
  }
}

template <class T>
void softmax_backward_row(const T* p, const T* dp, std::int64_t cols, T shift, bool accumulate, T* dlogits) {
  T projection = 0;
  for (std::int64_t c = 0; c < cols; ++c) projection += dp[c] * p[c];
  for (std::int64_t c = 0; c < cols; ++c) {
    const T grad = p[c] * (dp[c] - projection + shift);
    dlogits[c] = accumulate ? dlogits[c] + grad : grad;
  }
}

template float logsumexp<float>(const float*, std::int64_t);
template double logsumexp<double>(const double*, std::int64_t);
template void softmax_rows<float>(const float*, std::int64_t, std::int64_t, float*);
template void softmax_rows<double>(const double*, std::int64_t, std::int64_t, double*);
template void softmax_backward_row<float>(const float*, const float*, std::int64_t, float, bool, float*);
template void softmax_backward_row<double>(const double*, const double*, std::int64_t, double, bool, double*);

}  // namespace diverge::cpu
