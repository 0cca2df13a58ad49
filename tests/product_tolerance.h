// Where a CUDA product may land beside the CPU's on the same bf16 inputs: fp32 sums in two orders, then one bf16
// rounding of a bf16 result. Products of two bf16 values are exact in fp32 (8 + 8 significant bits), so the sums'
// orders are the only difference before the rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "tests/cuda_support.h"

namespace diverge::test {

inline constexpr float kTwoSums = 0x1p-23f;  // each side's sum of n terms is within n 2^-24 of their magnitudes

inline std::vector<float> absolute(std::vector<float> values) {
  for (float& v : values) v = std::fabs(v);
  return values;
}

// got is a value within `error` of expected, rounded once to bf16.
inline bool within_bf16_of(double got, double expected, double error) {
  return std::fabs(got - expected) <= error + kBf16Rounding * (std::fabs(expected) + error);
}

// An fp32 sum of `terms` terms whose magnitudes add to `magnitude`, summed in its own order on each side, then
// rounded once to bf16 when the result is bf16.
inline bool within_product(float got, float expected, double magnitude, std::int64_t terms, bool bf16_result) {
  const double order = static_cast<double>(terms + 1) * kTwoSums * magnitude;
  return bf16_result ? within_bf16_of(got, expected, order) : std::fabs(static_cast<double>(got) - expected) <= order;
}

}  // namespace diverge::test
