// Tests for the RMSNorm op: forward against the formula, backward (input and weight) against finite differences.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/cpu/rmsnorm.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr std::int64_t kRows = 5, kCols = 7;
constexpr double kEps = 1e-5;

std::vector<double> forward(const std::vector<double>& x, const std::vector<double>& w) {
  std::vector<double> y(x.size()), rstd(kRows);
  cpu::rmsnorm_forward(x.data(), w.data(), kRows, kCols, kEps, y.data(), rstd.data());
  return y;
}

}  // namespace

TEST_CASE("rmsnorm forward matches x / rms(x) * weight") {
  const auto x = random_values(kRows * kCols, 1);
  const auto w = random_values(kCols, 2, 0.5, 1.5);
  std::vector<double> y(x.size()), rstd(kRows);
  cpu::rmsnorm_forward(x.data(), w.data(), kRows, kCols, kEps, y.data(), rstd.data());
  for (std::size_t r = 0; r < kRows; ++r) {
    double mean_square = 0.0;
    for (std::size_t c = 0; c < kCols; ++c) mean_square += x[r * kCols + c] * x[r * kCols + c] / kCols;
    const double rms = std::sqrt(mean_square + kEps);
    CHECK(rstd[r] == doctest::Approx(1.0 / rms).epsilon(1e-14));
    for (std::size_t c = 0; c < kCols; ++c)
      CHECK(y[r * kCols + c] == doctest::Approx(x[r * kCols + c] / rms * w[c]).epsilon(1e-14));
  }
}

TEST_CASE("rmsnorm backward matches finite differences for x and weight") {
  auto x = random_values(kRows * kCols, 3);
  auto w = random_values(kCols, 4, 0.5, 1.5);
  const auto weights = random_values(kRows * kCols, 5);
  auto loss = [&] { return dot(forward(x, w), weights); };
  std::vector<double> y(x.size()), rstd(kRows), dx(x.size(), 9.0), dw(kCols, 0.25);
  cpu::rmsnorm_forward(x.data(), w.data(), kRows, kCols, kEps, y.data(), rstd.data());
  cpu::rmsnorm_backward(weights.data(), x.data(), w.data(), rstd.data(), kRows, kCols, dx.data(), dw.data());
  CHECK(max_rel_error(dx, numeric_gradient(x, loss)) < 1e-6);
  auto numeric_dw = numeric_gradient(w, loss);
  for (double& g : numeric_dw) g += 0.25;  // the weight gradient accumulates onto what was there
  CHECK(max_rel_error(dw, numeric_dw) < 1e-6);
}

TEST_CASE("rmsnorm op normalises per head and checks its arguments") {
  auto x = to_float(random_values(2 * 3 * 4, 6));
  std::vector<float> w(4, 1.0f), out(x.size()), rstd(6);
  Tensor tx = make_view(x.data(), DType::f32, Device::cpu, {2, 3, 4});
  Tensor tw = make_view(w.data(), DType::f32, Device::cpu, {4});
  Tensor tout = make_view(out.data(), DType::f32, Device::cpu, {2, 3, 4});
  Tensor trstd = make_view(rstd.data(), DType::f32, Device::cpu, {2, 3});
  ops::rmsnorm(tx, tw, tout, trstd, 0.0f);  // without eps every row of out has mean square exactly 1
  double norm_squared = 0.0;
  for (std::size_t c = 0; c < 4; ++c) norm_squared += static_cast<double>(out[4 + c]) * static_cast<double>(out[4 + c]);
  CHECK(norm_squared == doctest::Approx(4.0).epsilon(1e-5));
  Tensor wide_w = make_view(w.data(), DType::f32, Device::cpu, {3});
  CHECK(contains(error_message([&] { ops::rmsnorm(tx, wide_w, tout, trstd, 1e-6f); }),
                 "rmsnorm: weight: dim 0 is 3, expected 4 (C, the last dimension of x)"));
  Tensor short_rstd = make_view(rstd.data(), DType::f32, Device::cpu, {5});
  CHECK(contains(error_message([&] { ops::rmsnorm(tx, tw, tout, short_rstd, 1e-6f); }), "rmsnorm: rstd:"));
  CHECK(contains(error_message([&] { ops::rmsnorm(tx, tw, tout, trstd, -1.0f); }), "eps must be non-negative"));
}
