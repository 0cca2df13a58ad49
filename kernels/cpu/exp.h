// exp for the CPU kernels' hot loops: a branch-free float version that the compiler vectorises, std::exp for double.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <type_traits>

namespace diverge::cpu {

// exp(x) = 2^n exp(r) with n = round(x / ln 2) and |r| <= ln 2 / 2, exp(r) by a degree-6 polynomial (the classic
// Cephes single-precision coefficients): within 2 ulp of the true value. libm's expf is a call per element that
// no loop around it can vectorise; softmax, attention and cross-entropy spend most of their non-GEMM time in it.
// Below -87.3 (under float's normal range) the result is exactly 0, as a softmax over masked scores wants.
inline float exp_fast(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2High = 0.693359375f;  // ln 2 split so that n * kLn2High is exact
  constexpr float kLn2Low = -2.12194440e-4f;
  constexpr float kRoundShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  constexpr float kLowest = -87.3f;
  constexpr float kHighest = 88.3f;
  const float clamped = std::min(std::max(x, kLowest), kHighest);
  const float n = (clamped * kLog2e + kRoundShift) - kRoundShift;
  const float r = clamped - n * kLn2High - n * kLn2Low;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float exp_r = p * r * r + r + 1.0f;
  const float two_to_n = std::bit_cast<float>((static_cast<std::int32_t>(n) + 127) << 23);
  return x < kLowest ? 0.0f : exp_r * two_to_n;
}

// The kernels are templated on float (training) and double (finite-difference tests, which keep libm's exactness).
template <class T>
T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return exp_fast(x);
  } else {
    return std::exp(x);
  }
}

}  // namespace diverge::cpu
