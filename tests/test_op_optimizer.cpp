// Tests for AdamW (against the textbook update written out, decoupled decay) and global grad-norm clipping.
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>

#include "kernels/cpu/adamw.h"
#include "kernels/cpu/grad_norm.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

TEST_CASE("AdamW matches the bias-corrected update with decoupled weight decay over several steps") {
  const std::size_t n = 50;
  auto params = random_values(n, 1);
  std::vector<double> m(n, 0.0), v(n, 0.0);
  auto want = params;
  std::vector<double> want_m(n, 0.0), want_v(n, 0.0);
  const double lr = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.1;
  for (std::int64_t step = 1; step <= 4; ++step) {
    const auto grads = random_values(n, 10 + static_cast<std::uint64_t>(step));
    cpu::adamw_step(cpu::AdamWHyper<double>{lr, b1, b2, eps, wd, step}, static_cast<std::int64_t>(n), params.data(),
                    grads.data(), m.data(), v.data());
    for (std::size_t i = 0; i < n; ++i) {
      want_m[i] = b1 * want_m[i] + (1 - b1) * grads[i];
      want_v[i] = b2 * want_v[i] + (1 - b2) * grads[i] * grads[i];
      const double m_hat = want_m[i] / (1 - std::pow(b1, static_cast<double>(step)));
      const double v_hat = want_v[i] / (1 - std::pow(b2, static_cast<double>(step)));
      want[i] = want[i] - lr * wd * want[i] - lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
  CHECK(max_rel_error(params, want) < 1e-13);
  CHECK(max_rel_error(m, want_m) < 1e-13);
  CHECK(max_rel_error(v, want_v) < 1e-13);
}

TEST_CASE("AdamW weight decay is decoupled: zero gradients only shrink the weights") {
  std::vector<double> params = {1.0, -2.0}, grads = {0.0, 0.0}, m = {0.0, 0.0}, v = {0.0, 0.0};
  cpu::adamw_step(cpu::AdamWHyper<double>{0.1, 0.9, 0.999, 1e-8, 0.5, 1}, 2, params.data(), grads.data(), m.data(),
                  v.data());
  CHECK(params[0] == doctest::Approx(0.95).epsilon(1e-15));
  CHECK(params[1] == doctest::Approx(-1.9).epsilon(1e-15));
}

TEST_CASE("AdamW's grad_scale gives bitwise the update of gradients scaled beforehand") {
  const auto start = to_float(random_values(1000, 3));
  const auto grads = to_float(random_values(1000, 4));
  const float scale = 0.37f;
  auto scaled = grads;
  for (float& g : scaled) g *= scale;
  auto run = [&](const std::vector<float>& g, float grad_scale) {
    auto params = start;
    std::vector<float> m(start.size(), 0.0f), v(start.size(), 0.0f);
    for (std::int64_t step = 1; step <= 3; ++step)
      cpu::adamw_step(cpu::AdamWHyper<float>{1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, step, grad_scale}, 1000, params.data(),
                      g.data(), m.data(), v.data());
    return params;
  };
  const auto fused = run(grads, scale);
  CHECK(fused == run(scaled, 1.0f));
  CHECK(fused != run(grads, 1.0f));
}

TEST_CASE("grad norm clipping: returns the norm, clips only above max_norm") {
  std::vector<double> grads = {3.0, 4.0};
  CHECK(cpu::clip_grad_norm(grads.data(), 2, 10.0) == doctest::Approx(5.0));
  CHECK(grads == std::vector<double>{3.0, 4.0});
  CHECK(cpu::clip_grad_norm(grads.data(), 2, 1.0) == doctest::Approx(5.0));
  CHECK(std::sqrt(grads[0] * grads[0] + grads[1] * grads[1]) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(grads[0] / grads[1] == doctest::Approx(0.75));
}

TEST_CASE("sum of squares is identical for any thread count") {
  const auto values = to_float(random_values(100000, 5));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const double one = cpu::sum_of_squares(values.data(), static_cast<std::int64_t>(values.size()));
  omp_set_num_threads(3);
  const double many = cpu::sum_of_squares(values.data(), static_cast<std::int64_t>(values.size()));
  omp_set_num_threads(threads);
  CHECK(one == many);
  double direct = 0.0;
  for (float x : values) direct += static_cast<double>(x) * static_cast<double>(x);
  CHECK(one == doctest::Approx(direct).epsilon(1e-12));
}

TEST_CASE("optimizer ops check hyper-parameters and block shapes") {
  std::vector<float> params(8, 1.0f), grads(8, 0.5f), m(8), v(8), short_v(7);
  Tensor tp = make_view(params.data(), DType::f32, Device::cpu, {8});
  Tensor tg = make_view(grads.data(), DType::f32, Device::cpu, {8});
  Tensor tm = make_view(m.data(), DType::f32, Device::cpu, {8});
  Tensor tv = make_view(v.data(), DType::f32, Device::cpu, {8});
  ops::AdamWHyper h;
  h.step = 0;
  CHECK(contains(error_message([&] { ops::adamw_step(tp, tg, tm, tv, h); }), "adamw_step: step counts from 1"));
  h.step = 1;
  h.beta2 = 1.0f;
  CHECK(contains(error_message([&] { ops::adamw_step(tp, tg, tm, tv, h); }), "beta2 must be in [0, 1)"));
  h.beta2 = 0.95f;
  Tensor tshort = make_view(short_v.data(), DType::f32, Device::cpu, {7});
  CHECK(contains(error_message([&] { ops::adamw_step(tp, tg, tm, tshort, h); }), "adamw_step: v: f32 cpu (7) differs"));
  ops::adamw_step(tp, tg, tm, tv, h);
  CHECK(params[0] < 1.0f);
  CHECK(ops::sum_of_squares(tg) == doctest::Approx(2.0));
  CHECK(contains(error_message([&] { ops::clip_grad_norm(tg, 0.0f); }), "max_norm must be positive"));
  CHECK(ops::clip_grad_norm(tg, 1.0f) == doctest::Approx(std::sqrt(2.0)));
}
