// Tests of the CPU residual add and copy: exact results, in place, and errors naming the op and the argument.
#include <doctest/doctest.h>

#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

TEST_CASE("op add and copy: exact on the CPU, in place, and shape mismatches named") {
  std::vector<float> a{1.5f, -2.0f, 0.25f, 8.0f, 3.0f, 1e-8f}, b{0.5f, 2.0f, 0.5f, -1.0f, 1e8f, 1.0f};
  std::vector<float> out(6), copied(6);
  const Tensor ta = make_view(a.data(), DType::f32, Device::cpu, {2, 3});
  const Tensor tb = make_view(b.data(), DType::f32, Device::cpu, {2, 3});
  ops::add(ta, tb, make_view(out.data(), DType::f32, Device::cpu, {2, 3}));
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(out[i] == a[i] + b[i]);
  ops::copy(ta, make_view(copied.data(), DType::f32, Device::cpu, {2, 3}));
  CHECK(copied == a);
  ops::add(ta, tb, ta);
  CHECK(a == out);
  const Tensor wrong = make_view(b.data(), DType::f32, Device::cpu, {3, 2});
  CHECK(contains(error_message([&] { ops::add(ta, wrong, ta); }), "add: b:"));
  CHECK(contains(error_message([&] { ops::copy(ta, wrong); }), "copy: dst:"));
}
