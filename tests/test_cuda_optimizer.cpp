// Tests of the CUDA optimizer ops against the CPU reference: AdamW over a block, the deterministic sum of squares.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/cuda/device_info.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;


TEST_CASE("cuda adamw: an update matches the CPU within the rounding of its sums" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t n = 100'003;  // not a multiple of any block size
  const auto size = static_cast<std::size_t>(n);
  auto params = test::normal_values(size, 1, 0.02f), m = test::normal_values(size, 2, 0.01f), v = test::normal_values(size, 3, 1e-3f);
  for (float& x : v) x = x * x;
  Arena arena = test::device_arena(4 * size * sizeof(float) + 4 * Arena::kAlignment);
  const Tensor d_params = arena.alloc(DType::f32, {n}), d_m = arena.alloc(DType::f32, {n}),
               d_v = arena.alloc(DType::f32, {n}), d_grads = arena.alloc(DType::f32, {n});
  for (std::int64_t step = 1; step <= 3; ++step) {
    CAPTURE(step);
    const auto grads = test::normal_values(size, static_cast<std::uint32_t>(10 + step), 1.0f);
    const ops::AdamWHyper h{.lr = 1e-2f, .weight_decay = step == 2 ? 0.0f : 0.1f, .step = step,
                            .grad_scale = step == 3 ? 0.25f : 1.0f};
    // Both start from the CPU's state, so each step is compared on its own rounding.
    using Copy = std::pair<Tensor, const std::vector<float>*>;
    for (const auto& [device, host] : {Copy{d_params, &params}, Copy{d_m, &m}, Copy{d_v, &v}, Copy{d_grads, &grads}})
      test::copy_into(device, *host);
    const auto p0 = params, m0 = m, v0 = v;
    auto g = grads;
    ops::adamw_step(test::host_tensor(params, {n}), test::host_tensor(g, {n}), test::host_tensor(m, {n}), test::host_tensor(v, {n}), h);
    ops::adamw_step(d_params, d_grads, d_m, d_v, h);
    const auto got_p = test::to_host(d_params), got_m = test::to_host(d_m), got_v = test::to_host(d_v);
    // m and v are sums of two rounded terms, which a fused multiply-add may round differently: a few epsilon of the
    // terms' magnitudes. The parameter's update u = lr m_hat / (sqrt(v_hat) + eps) carries the moments' relative
    // differences (v under a square root: half of its), plus a few roundings of its own and of p * decay.
    constexpr float eps = 0x1p-23f;
    int outside = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const float gi = grads[i] * h.grad_scale;
      const float dm = std::fabs(got_m[i] - m[i]), dv = std::fabs(got_v[i] - v[i]);
      const float u = std::fabs(params[i] - p0[i] * (1.0f - h.lr * h.weight_decay));
      const float carried = m[i] == 0.0f ? (dm == 0.0f ? 0.0f : 1.0f) : dm / std::fabs(m[i]) + 0.5f * dv / v[i];
      const bool ok = dm <= 4 * eps * (0.9f * std::fabs(m0[i]) + 0.1f * std::fabs(gi)) &&
                      dv <= 4 * eps * (0.95f * v0[i] + 0.05f * gi * gi) &&
                      std::fabs(got_p[i] - params[i]) <= 8 * eps * (std::fabs(p0[i]) + u) + u * carried;
      outside += ok ? 0 : 1;
    }
    CHECK(outside == 0);
  }
}

TEST_CASE("cuda sum_of_squares: matches the CPU's double sum and gives the same bits every call" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{16'383}, std::size_t{16'384}, std::size_t{16'385},
                        std::size_t{1'000'007}}) {
    CAPTURE(n);
    auto values = test::normal_values(n, 7, 3.0f);
    Arena arena = test::device_arena(n * sizeof(float) + Arena::kAlignment);
    const Tensor device = test::to_device(arena, values, {static_cast<std::int64_t>(n)});
    const double expected = ops::sum_of_squares(test::host_tensor(values, {static_cast<std::int64_t>(n)}));
    const double got = ops::sum_of_squares(device);
    // Both sum the same squares in double, in different orders: each addition rounds by at most 2^-53 relative.
    CHECK(std::fabs(got - expected) <= static_cast<double>(n + 1) * 0x1p-53 * expected);
    CHECK(ops::sum_of_squares(device) == got);
  }
}

TEST_CASE("cuda sums_of_squares: several parts read back at once, each the bits of its own sum" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::vector<std::int64_t> sizes = {16'385, 0, 1, 40'000};
  std::int64_t total = 0;
  for (std::int64_t n : sizes) total += n;
  auto values = test::normal_values(static_cast<std::size_t>(total), 11, 2.0f);
  Arena arena = test::device_arena(static_cast<std::size_t>(total) * sizeof(float) + Arena::kAlignment);
  const Tensor block = test::to_device(arena, values, {total});
  std::vector<Tensor> parts;
  std::int64_t begin = 0;
  for (std::int64_t n : sizes) {
    parts.push_back(block.slice_rows(begin, begin + n));
    begin += n;
  }
  const std::uint64_t waits = cuda::host_waits();
  const std::vector<double> sums = ops::sums_of_squares(parts);
  CHECK(cuda::host_waits() - waits == 1);
  REQUIRE(sums.size() == parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    CAPTURE(i);
    CHECK(sums[i] == ops::sum_of_squares(parts[i]));
  }
  CHECK(sums[1] == 0.0);
}
