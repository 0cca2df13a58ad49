// Tests of CUDA SwiGLU (bf16 in and out, fp32 inside) against the CPU reference on the same bf16 inputs.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

TEST_CASE("cuda swiglu: forward and backward match the CPU on the same bf16 inputs" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const std::int64_t n : {std::int64_t{1}, std::int64_t{1000}, std::int64_t{70'001}}) {
    CAPTURE(n);
    const auto size = static_cast<std::size_t>(n);
    auto gate = test::rounded_to_bf16(test::normal_values(size, 1, 3.0f));
    auto up = test::rounded_to_bf16(test::normal_values(size, 2, 1.0f));
    auto dout = test::rounded_to_bf16(test::normal_values(size, 3, 1.0f));
    std::vector<float> out(size), dgate(size), dup(size);
    ops::swiglu(test::host_tensor(gate, {n}), test::host_tensor(up, {n}), test::host_tensor(out, {n}));
    ops::swiglu_backward(test::host_tensor(dout, {n}), test::host_tensor(gate, {n}), test::host_tensor(up, {n}),
                         test::host_tensor(dgate, {n}), test::host_tensor(dup, {n}));

    Arena arena = test::device_arena(7 * size * sizeof(std::uint16_t) + 8 * Arena::kAlignment);
    const Tensor d_gate = test::to_device_bf16(arena, gate, {n}), d_up = test::to_device_bf16(arena, up, {n}),
                 d_dout = test::to_device_bf16(arena, dout, {n}), d_out = arena.alloc(DType::bf16, {n}),
                 d_dgate = arena.alloc(DType::bf16, {n}), d_dup = arena.alloc(DType::bf16, {n});
    ops::swiglu(d_gate, d_up, d_out);
    ops::swiglu_backward(d_dout, d_gate, d_up, d_dgate, d_dup);
    const auto got_out = test::bf16_to_host(d_out), got_dgate = test::bf16_to_host(d_dgate),
               got_dup = test::bf16_to_host(d_dup);

    // fp32 inside on both sides, with exponentials a few ulp apart (the CPU's polynomial, CUDA's expf): 16 epsilon
    // of each product's factors' magnitudes, then one rounding to bf16.
    constexpr float kFloat = 16 * 0x1p-23f;
    int outside = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const float s = 1.0f / (1.0f + std::exp(-gate[i]));
      const float product = std::fabs(dout[i] * up[i] * s) * (1.0f + std::fabs(gate[i]));
      auto near = [&](float got, float want, float magnitude) {
        return std::fabs(got - want) <= test::kBf16Rounding * std::fabs(want) + kFloat * magnitude;
      };
      outside += near(got_out[i], out[i], std::fabs(out[i])) ? 0 : 1;
      outside += near(got_dgate[i], dgate[i], product) ? 0 : 1;
      outside += near(got_dup[i], dup[i], std::fabs(dup[i])) ? 0 : 1;
    }
    CHECK(outside == 0);
  }
}
