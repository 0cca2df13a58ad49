// Tests of CUDA RoPE (bf16) against the CPU reference on the same bf16 inputs, forward, backward and in place.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

TEST_CASE("cuda rope: rotation and its transpose match the CPU; in place works" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t batch = 2, heads = 3, head_dim = 64;
  // Longer sequences after shorter ones make the cached tables grow; the last is shorter again.
  for (const std::int64_t seq : {std::int64_t{5}, std::int64_t{130}, std::int64_t{17}}) {
    CAPTURE(seq);
    const auto n = static_cast<std::size_t>(batch * seq * heads * head_dim);
    auto x = test::rounded_to_bf16(test::normal_values(n, 1, 1.0f));
    std::vector<float> out(n), back(n);
    ops::rope(test::host_tensor(x, {batch, seq, heads, head_dim}), test::host_tensor(out, {batch, seq, heads, head_dim}),
              1e4f);
    ops::rope_backward(test::host_tensor(x, {batch, seq, heads, head_dim}),
                       test::host_tensor(back, {batch, seq, heads, head_dim}), 1e4f);

    Arena arena = test::device_arena(3 * n * sizeof(std::uint16_t) + 4 * Arena::kAlignment);
    const Tensor d_x = test::to_device_bf16(arena, x, {batch, seq, heads, head_dim}),
                 d_out = arena.alloc(DType::bf16, {batch, seq, heads, head_dim}),
                 d_in_place = test::to_device_bf16(arena, x, {batch, seq, heads, head_dim});
    ops::rope(d_x, d_out, 1e4f);
    ops::rope_backward(d_in_place, d_in_place, 1e4f);
    const auto got_out = test::bf16_to_host(d_out), got_back = test::bf16_to_host(d_in_place);

    // The same tables on both sides; x1 cos - x2 sin in fp32 (perhaps fused), then one bf16 rounding.
    constexpr float kFloat = 4 * 0x1p-23f;
    const std::int64_t half = head_dim / 2;
    int outside = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t partner = (static_cast<std::int64_t>(i) % head_dim) < half ? i + half : i - half;
      const float magnitude = std::fabs(x[i]) + std::fabs(x[partner]);
      outside += std::fabs(got_out[i] - out[i]) <= test::kBf16Rounding * std::fabs(out[i]) + kFloat * magnitude ? 0 : 1;
      outside += std::fabs(got_back[i] - back[i]) <= test::kBf16Rounding * std::fabs(back[i]) + kFloat * magnitude ? 0 : 1;
    }
    CHECK(outside == 0);
  }
}
