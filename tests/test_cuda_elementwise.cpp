// Tests of the CUDA residual add and copy: the add is the CPU's fp32 sum rounded once to bf16, bit for bit.
#include <doctest/doctest.h>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

TEST_CASE("cuda add and copy: the fp32 sum rounded once, in place or not, and exact copies" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t rows = 33, cols = 70;
  const auto n = static_cast<std::size_t>(rows * cols);
  auto a = test::rounded_to_bf16(test::normal_values(n, 1, 3.0f));
  auto b = test::rounded_to_bf16(test::normal_values(n, 2, 0.01f));
  std::vector<float> sum(n);
  ops::add(test::host_tensor(a, {rows, cols}), test::host_tensor(b, {rows, cols}), test::host_tensor(sum, {rows, cols}));

  Arena arena = test::device_arena(4 * n * 2 + 8 * Arena::kAlignment);
  const Tensor d_a = test::to_device_bf16(arena, a, {rows, cols}), d_b = test::to_device_bf16(arena, b, {rows, cols}),
               d_out = arena.alloc(DType::bf16, {rows, cols}), d_copy = arena.alloc(DType::bf16, {rows, cols});
  ops::add(d_a, d_b, d_out);
  CHECK(test::bf16_to_host(d_out) == test::rounded_to_bf16(sum));
  ops::copy(d_a, d_copy);
  CHECK(test::bf16_to_host(d_copy) == a);
  ops::add(d_a, d_b, d_a);
  CHECK(test::bf16_to_host(d_a) == test::rounded_to_bf16(sum));
}
