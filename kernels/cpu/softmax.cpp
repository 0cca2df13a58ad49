// CPU row softmax (max-shifted) and its backward, rows in parallel.
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
void softmax_backward_accumulate(const T* probs, const T* dprobs, std::int64_t rows, std::int64_t cols, T* dlogits) {
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* p = probs + r * cols;
    const T* dp = dprobs + r * cols;
    T projection = 0;
    for (std::int64_t c = 0; c < cols; ++c) projection += dp[c] * p[c];
    for (std::int64_t c = 0; c < cols; ++c) dlogits[r * cols + c] += p[c] * (dp[c] - projection);
  }
}

template float logsumexp<float>(const float*, std::int64_t);
template double logsumexp<double>(const double*, std::int64_t);
template void softmax_rows<float>(const float*, std::int64_t, std::int64_t, float*);
template void softmax_rows<double>(const double*, std::int64_t, std::int64_t, double*);
template void softmax_backward_accumulate<float>(const float*, const float*, std::int64_t, std::int64_t, float*);
template void softmax_backward_accumulate<double>(const double*, const double*, std::int64_t, std::int64_t, double*);

}  // namespace diverge::cpu
