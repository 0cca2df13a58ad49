// Tests of CUDA RMSNorm (bf16 activations, fp32 statistics) against the CPU reference on the same bf16 inputs.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

namespace {

constexpr float kEps = 0x1p-23f;

struct Shape {
  std::int64_t rows;
  std::int64_t cols;
};

// Rows not a multiple of the 8 rows a block takes, columns not of the 32 a warp strides, rows over the 128 a
// weight-gradient chunk sums.
constexpr Shape kShapes[] = {{1, 32}, {13, 100}, {300, 64}, {37, 1000}};

}  // namespace

TEST_CASE("cuda rmsnorm: forward and backward match the CPU on the same bf16 inputs" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const Shape shape : kShapes) {
    const auto [rows, cols] = shape;
    CAPTURE(rows);
    CAPTURE(cols);
    const auto n = static_cast<std::size_t>(rows * cols), c = static_cast<std::size_t>(cols);
    auto x = test::rounded_to_bf16(test::normal_values(n, 1, 2.0f));
    auto w = test::rounded_to_bf16(test::normal_values(c, 2, 1.0f));
    auto dy = test::rounded_to_bf16(test::normal_values(n, 3, 1.0f));
    std::vector<float> y(n), rstd(static_cast<std::size_t>(rows)), dx(n), dw(c, 0.5f);
    ops::rmsnorm(test::host_tensor(x, {rows, cols}), test::host_tensor(w, {cols}), test::host_tensor(y, {rows, cols}),
                 test::host_tensor(rstd, {rows}), 1e-6f);
    ops::rmsnorm_backward(test::host_tensor(dy, {rows, cols}), test::host_tensor(x, {rows, cols}),
                          test::host_tensor(w, {cols}), test::host_tensor(rstd, {rows}),
                          test::host_tensor(dx, {rows, cols}), test::host_tensor(dw, {cols}));

    Arena arena = test::device_arena(8 * n * sizeof(float) + 16 * Arena::kAlignment);
    const Tensor d_x = test::to_device_bf16(arena, x, {rows, cols}), d_w = test::to_device_bf16(arena, w, {cols}),
                 d_dy = test::to_device_bf16(arena, dy, {rows, cols}), d_y = arena.alloc(DType::bf16, {rows, cols}),
                 d_rstd = arena.alloc(DType::f32, {rows}), d_dx = arena.alloc(DType::bf16, {rows, cols}),
                 d_dw = test::to_device(arena, std::vector<float>(c, 0.5f), {cols});
    ops::rmsnorm(d_x, d_w, d_y, d_rstd, 1e-6f);
    ops::rmsnorm_backward(d_dy, d_x, d_w, d_rstd, d_dx, d_dw);
    const auto got_y = test::bf16_to_host(d_y), got_dx = test::bf16_to_host(d_dx);
    const auto got_rstd = test::to_host(d_rstd), got_dw = test::to_host(d_dw);

    // Sums of `cols` products differ by their order: at most cols * eps of the sum of magnitudes. Each bf16 output
    // then rounds once more, by at most half its unit in the last place.
    const float order = static_cast<float>(cols) * kEps;
    int outside = 0;
    for (std::size_t r = 0; r < static_cast<std::size_t>(rows); ++r) {
      outside += std::fabs(got_rstd[r] - rstd[r]) <= order * rstd[r] ? 0 : 1;
      double projection = 0.0;  // sum_j |w_j dy_j x_j|: the magnitude dx's correction term is taken from
      for (std::size_t j = 0; j < c; ++j) projection += std::fabs(w[j] * dy[r * c + j] * x[r * c + j]);
      const float correction = rstd[r] * rstd[r] * static_cast<float>(projection) / static_cast<float>(cols);
      for (std::size_t j = 0; j < c; ++j) {
        const std::size_t i = r * c + j;
        outside += std::fabs(got_y[i] - y[i]) <= test::kBf16Rounding * std::fabs(y[i]) + order * std::fabs(y[i]) ? 0 : 1;
        const float terms = rstd[r] * (std::fabs(w[j] * dy[i]) + std::fabs(x[i]) * correction);
        outside += std::fabs(got_dx[i] - dx[i]) <= test::kBf16Rounding * std::fabs(dx[i]) + 2 * order * terms ? 0 : 1;
      }
    }
    for (std::size_t j = 0; j < c; ++j) {
      double magnitude = 0.5;  // the 0.5 the gradient was added to
      for (std::size_t r = 0; r < static_cast<std::size_t>(rows); ++r)
        magnitude += std::fabs(dy[r * c + j] * x[r * c + j] * rstd[r]);
      outside += std::fabs(got_dw[j] - dw[j]) <= 2 * static_cast<float>(rows) * kEps * magnitude ? 0 : 1;
    }
    CHECK(outside == 0);
  }
}

TEST_CASE("cuda rmsnorm: the weight gradient is the same bits on every run" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t rows = 300, cols = 96;
  const auto n = static_cast<std::size_t>(rows * cols);
  Arena arena = test::device_arena(6 * n * sizeof(float) + 16 * Arena::kAlignment);
  const Tensor x = test::to_device_bf16(arena, test::normal_values(n, 4, 1.0f), {rows, cols}),
               w = test::to_device_bf16(arena, test::normal_values(96, 5, 1.0f), {cols}),
               dy = test::to_device_bf16(arena, test::normal_values(n, 6, 1.0f), {rows, cols}),
               y = arena.alloc(DType::bf16, {rows, cols}), rstd = arena.alloc(DType::f32, {rows}),
               dx = arena.alloc(DType::bf16, {rows, cols}), dw = arena.alloc(DType::f32, {cols});
  ops::rmsnorm(x, w, y, rstd, 1e-6f);
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 2; ++run) {
    test::copy_into(dw, std::vector<float>(96, 0.0f));
    ops::rmsnorm_backward(dy, x, w, rstd, dx, dw);
    runs.push_back(test::to_host(dw));
  }
  CHECK(runs[0] == runs[1]);
}
