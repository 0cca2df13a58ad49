// Tests for the SwiGLU op: forward against silu(g) * u, backward against finite differences, shape errors.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/cpu/swiglu.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

std::vector<double> forward(const std::vector<double>& gate, const std::vector<double>& up) {
  std::vector<double> out(gate.size());
  cpu::swiglu_forward(gate.data(), up.data(), static_cast<std::int64_t>(gate.size()), out.data());
  return out;
}

}  // namespace

TEST_CASE("swiglu forward is silu(gate) * up, also far into the tails") {
  std::vector<double> gate = {-3.0, 0.0, 0.5, 2.0, -800.0, 800.0};
  std::vector<double> up = {1.5, 2.0, -1.0, 0.25, 1.0, 1.0};
  const auto out = forward(gate, up);
  for (std::size_t i = 0; i < gate.size(); ++i)
    CHECK(out[i] == doctest::Approx(gate[i] / (1.0 + std::exp(-gate[i])) * up[i]).epsilon(1e-14));
  CHECK(out[4] == 0.0);
}

TEST_CASE("swiglu backward matches finite differences") {
  auto gate = random_values(40, 1, -4.0, 4.0);
  auto up = random_values(40, 2, -2.0, 2.0);
  const auto weights = random_values(40, 3);
  auto loss = [&] { return dot(forward(gate, up), weights); };
  std::vector<double> dgate(40), dup(40);
  cpu::swiglu_backward(weights.data(), gate.data(), up.data(), 40, dgate.data(), dup.data());
  CHECK(max_rel_error(dgate, numeric_gradient(gate, loss)) < 1e-6);
  CHECK(max_rel_error(dup, numeric_gradient(up, loss)) < 1e-6);
}

TEST_CASE("swiglu op requires one shape for all operands") {
  std::vector<float> a(12, 1.0f), b(12, 2.0f), c(12);
  Tensor ta = make_view(a.data(), DType::f32, Device::cpu, {3, 4});
  Tensor tb = make_view(b.data(), DType::f32, Device::cpu, {4, 3});
  Tensor tc = make_view(c.data(), DType::f32, Device::cpu, {3, 4});
  CHECK(contains(error_message([&] { ops::swiglu(ta, tb, tc); }), "swiglu: up: f32 cpu (4, 3) differs from gate"));
  ops::swiglu(ta, ta, tc);
  CHECK(c[0] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
}
