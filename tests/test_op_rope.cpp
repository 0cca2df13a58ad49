// Tests for the RoPE op: forward against HF's "x * cos + rotate_half(x) * sin", backward against finite differences.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/cpu/rope.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr cpu::RopeShape kShape{2, 5, 3, 8};
constexpr double kTheta = 10000.0;
constexpr std::size_t kSize = 2 * 5 * 3 * 8;

// HF's apply_rotary_pos_emb written out: emb = cat(freqs, freqs), rotate_half(x) = cat(-x2, x1).
std::vector<double> hf_rope(const std::vector<double>& x) {
  const std::int64_t d = kShape.head_dim, half = d / 2;
  std::vector<double> out(x.size());
  for (std::int64_t b = 0; b < kShape.batch; ++b)
    for (std::int64_t t = 0; t < kShape.seq; ++t)
      for (std::int64_t h = 0; h < kShape.heads; ++h) {
        const std::size_t base = static_cast<std::size_t>(((b * kShape.seq + t) * kShape.heads + h) * d);
        for (std::int64_t j = 0; j < d; ++j) {
          const double freq = 1.0 / std::pow(kTheta, static_cast<double>(2 * (j % half)) / static_cast<double>(d));
          const double angle = static_cast<double>(t) * freq;
          const std::size_t jj = static_cast<std::size_t>(j);
          const double rotated =
              j < half ? -x[base + jj + static_cast<std::size_t>(half)] : x[base + jj - static_cast<std::size_t>(half)];
          out[base + jj] = x[base + jj] * std::cos(angle) + rotated * std::sin(angle);
        }
      }
  return out;
}

}  // namespace

TEST_CASE("rope forward matches HF's rotate_half formula and leaves position 0 unchanged") {
  const auto x = random_values(kSize, 1);
  std::vector<double> out(kSize);
  cpu::rope_forward(kShape, x.data(), kTheta, out.data());
  CHECK(max_rel_error(out, hf_rope(x)) < 1e-12);
  for (std::size_t i = 0; i < 3 * 8; ++i) CHECK(out[i] == x[i]);
}

TEST_CASE("rope backward matches finite differences and works in place") {
  auto x = random_values(kSize, 2);
  const auto weights = random_values(kSize, 3);
  auto loss = [&] { return dot(hf_rope(x), weights); };
  std::vector<double> dx(weights);
  cpu::rope_backward(kShape, dx.data(), kTheta, dx.data());
  CHECK(max_rel_error(dx, numeric_gradient(x, loss)) < 1e-6);
}

TEST_CASE("rope op rejects odd head dims and bad theta") {
  std::vector<float> x(2 * 3 * 4 * 5, 1.0f);
  Tensor odd = make_view(x.data(), DType::f32, Device::cpu, {2, 3, 4, 5});
  CHECK(contains(error_message([&] { ops::rope(odd, odd, 10000.0f); }), "rope: x: head dim D must be even"));
  Tensor even = make_view(x.data(), DType::f32, Device::cpu, {2, 3, 5, 4});
  CHECK(contains(error_message([&] { ops::rope(even, even, 0.5f); }), "theta must be greater than 1"));
  Tensor flat = make_view(x.data(), DType::f32, Device::cpu, {6, 20});
  CHECK(contains(error_message([&] { ops::rope(flat, flat, 10000.0f); }), "rope: x: expected 4 dimensions"));
  ops::rope(even, even, 10000.0f);
  CHECK(x[0] == 1.0f);
}
