// Tests of the CUDA products (cuBLASLt; the host BLAS under the emulator) against the CPU reference on the same bf16
// inputs, with tolerances from fp32 accumulation and one bf16 rounding.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

#include "kernels/ops.h"
#include "tests/cuda_support.h"
#include "tests/product_tolerance.h"

using namespace diverge;
using test::absolute;
using test::within_product;

namespace {

int count_outside(const std::vector<float>& got, const std::vector<float>& expected,
                  const std::vector<float>& magnitude, std::int64_t terms, bool bf16_result) {
  int outside = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    outside += within_product(got[i], expected[i], magnitude[i], terms, bf16_result) ? 0 : 1;
  return outside;
}

std::vector<float> read_back(const Tensor& t) { return t.dtype == DType::bf16 ? test::bf16_to_host(t) : test::to_host(t); }

// A device tensor of dtype holding values (rounded when bf16).
Tensor on_device(Arena& arena, DType dtype, const std::vector<float>& values, std::initializer_list<std::int64_t> shape) {
  return dtype == DType::bf16 ? test::to_device_bf16(arena, values, shape) : test::to_device(arena, values, shape);
}

}  // namespace

TEST_CASE("cuda matmul: every layout, bf16 and fp32 results, overwrite and accumulate, match the CPU" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t m = 37, n = 29, k = 53;  // none a multiple of a tile
  for (const bool trans_a : {false, true})
    for (const bool trans_b : {false, true})
      for (const DType result : {DType::bf16, DType::f32})
        for (const ops::Write write : {ops::Write::overwrite, ops::Write::accumulate}) {
          CAPTURE(trans_a);
          CAPTURE(trans_b);
          CAPTURE(dtype_name(result));
          const bool accumulate = write == ops::Write::accumulate;
          CAPTURE(accumulate);
          auto a = test::rounded_to_bf16(test::normal_values(static_cast<std::size_t>(m * k), 1, 1.0f));
          auto b = test::rounded_to_bf16(test::normal_values(static_cast<std::size_t>(k * n), 2, 1.0f));
          auto c = test::normal_values(static_cast<std::size_t>(m * n), 3, 4.0f);
          if (result == DType::bf16) c = test::rounded_to_bf16(c);
          auto abs_a = absolute(a), abs_b = absolute(b), magnitude = accumulate ? absolute(c) : c;
          auto expected = c;
          const std::int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;  // a and b as stored
          const std::int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
          ops::matmul(test::host_tensor(a, {a_rows, a_cols}), test::host_tensor(b, {b_rows, b_cols}), test::host_tensor(expected, {m, n}),
                      trans_a, trans_b, write);
          ops::matmul(test::host_tensor(abs_a, {a_rows, a_cols}), test::host_tensor(abs_b, {b_rows, b_cols}),
                      test::host_tensor(magnitude, {m, n}), trans_a, trans_b, write);

          Arena arena = test::device_arena(static_cast<std::size_t>(m * k + k * n + m * n) * 4 + 8 * Arena::kAlignment);
          const Tensor d_a = test::to_device_bf16(arena, a, {a_rows, a_cols}), d_b = test::to_device_bf16(arena, b, {b_rows, b_cols}),
                       d_c = on_device(arena, result, c, {m, n});
          ops::matmul(d_a, d_b, d_c, trans_a, trans_b, write);
          CHECK(count_outside(read_back(d_c), expected, magnitude, k + 1, result == DType::bf16) == 0);
        }
}

TEST_CASE("cuda matmul backward: an fp32 dout is rounded to bf16 once; gradients in either type match the CPU" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t m = 45, n = 19, k = 33;
  for (const bool trans_b : {false, true}) {
    CAPTURE(trans_b);
    auto x = test::rounded_to_bf16(test::normal_values(static_cast<std::size_t>(m * k), 4, 1.0f));
    auto w = test::rounded_to_bf16(test::normal_values(static_cast<std::size_t>(k * n), 5, 1.0f));
    const auto dout = test::normal_values(static_cast<std::size_t>(m * n), 6, 1.0f);  // fp32, as the router's
    auto dout_rounded = test::rounded_to_bf16(dout);
    auto dx = std::vector<float>(static_cast<std::size_t>(m * k)), dw = test::normal_values(static_cast<std::size_t>(k * n), 7, 1.0f);
    const auto dw_before = dw;
    auto abs_x = absolute(x), abs_w = absolute(w), abs_dout = absolute(dout_rounded);
    auto dx_magnitude = dx, dw_magnitude = absolute(dw);
    const std::int64_t w_rows = trans_b ? n : k, w_cols = trans_b ? k : n;  // w as stored
    ops::matmul_backward(test::host_tensor(dout_rounded, {m, n}), test::host_tensor(x, {m, k}), test::host_tensor(w, {w_rows, w_cols}),
                         test::host_tensor(dx, {m, k}), test::host_tensor(dw, {w_rows, w_cols}), false, trans_b,
                         ops::Write::overwrite, ops::Write::accumulate);
    ops::matmul_backward(test::host_tensor(abs_dout, {m, n}), test::host_tensor(abs_x, {m, k}),
                         test::host_tensor(abs_w, {w_rows, w_cols}), test::host_tensor(dx_magnitude, {m, k}),
                         test::host_tensor(dw_magnitude, {w_rows, w_cols}), false, trans_b, ops::Write::overwrite,
                         ops::Write::accumulate);

    Arena arena = test::device_arena(static_cast<std::size_t>(2 * m * k + 2 * k * n + m * n) * 4 + 8 * Arena::kAlignment);
    const Tensor d_x = test::to_device_bf16(arena, x, {m, k}), d_w = test::to_device_bf16(arena, w, {w_rows, w_cols}),
                 d_dout = test::to_device(arena, dout, {m, n}), d_dx = arena.alloc(DType::bf16, {m, k}),
                 d_dw = test::to_device(arena, dw_before, {w_rows, w_cols});
    ops::matmul_backward(d_dout, d_x, d_w, d_dx, d_dw, false, trans_b, ops::Write::overwrite, ops::Write::accumulate);
    CHECK(count_outside(test::bf16_to_host(d_dx), dx, dx_magnitude, n, true) == 0);
    CHECK(count_outside(test::to_host(d_dw), dw, dw_magnitude, m + 1, false) == 0);
  }
}

TEST_CASE("cuda matmul: an empty inner dimension gives zeros, and accumulating it changes nothing" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  Arena arena = test::device_arena(4096);
  const Tensor a = arena.alloc(DType::bf16, {3, 0}), b = arena.alloc(DType::bf16, {0, 4});
  const Tensor out = test::to_device(arena, std::vector<float>(12, 7.0f), {3, 4});
  ops::matmul(a, b, out, false, false, ops::Write::accumulate);
  CHECK(test::to_host(out) == std::vector<float>(12, 7.0f));
  ops::matmul(a, b, out, false, false);
  CHECK(test::to_host(out) == std::vector<float>(12, 0.0f));
}
