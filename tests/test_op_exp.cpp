// Tests for the vectorisable float exp of the CPU kernels: accuracy against double exp, its edges and NaN.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/exp.h"

using namespace diverge;

TEST_CASE("exp_fast is within 2 ulp of exp over float's normal range") {
  double worst = 0.0;
  float worst_at = 0.0f;
  for (float x = -87.0f; x <= 88.0f; x += 0.000173f) {
    const double want = std::exp(static_cast<double>(x));
    const double ulp = std::ldexp(1.0, std::ilogb(want) - 23);  // float's spacing at the true value
    const double error = std::abs(static_cast<double>(cpu::exp_fast(x)) - want) / ulp;
    if (error > worst) {
      worst = error;
      worst_at = x;
    }
  }
  CAPTURE(worst_at);
  CHECK(worst <= 2.0);
}

TEST_CASE("exp_fast is exact where softmax needs it, zero under the normal range and NaN for NaN") {
  CHECK(cpu::exp_fast(0.0f) == 1.0f);
  CHECK(cpu::exp_fast(-100.0f) == 0.0f);
  CHECK(cpu::exp_fast(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isnan(cpu::exp_fast(std::numeric_limits<float>::quiet_NaN())));
  CHECK(cpu::exp_of(0.5) == std::exp(0.5));
}
