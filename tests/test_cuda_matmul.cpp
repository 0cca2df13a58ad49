// Tests of the CUDA products (cuBLASLt; the host BLAS under the emulator) and the expert FFN built on them, against
// the CPU reference on the same bf16 inputs, with tolerances from fp32 accumulation and one bf16 rounding.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

namespace {

constexpr float kEps = 0x1p-23f;  // two units of fp32 rounding: each side's sum is within (terms * 2^-24) of exact

std::vector<float> absolute(std::vector<float> values) {
  for (float& v : values) v = std::fabs(v);
  return values;
}

// Where a product's result may land: an fp32 sum of `terms` terms whose magnitudes add to `magnitude`, on each side
// summed in its own order, then rounded once to bf16 when the result is bf16.
bool within_product(float got, float expected, double magnitude, std::int64_t terms, bool bf16_result) {
  const double order = static_cast<double>(terms + 1) * kEps * magnitude;
  const double rounding = bf16_result ? test::kBf16Rounding * (std::fabs(expected) + order) : 0.0;
  return std::fabs(static_cast<double>(got) - expected) <= order + rounding;
}

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

// A CPU view of rows [begin, begin + count) of a row-major (rows, width) host array.
Tensor rows_of(std::vector<float>& values, std::int64_t begin, std::int64_t count, std::int64_t width) {
  return make_view(values.data() + begin * width, DType::f32, Device::cpu, {count, width});
}

float sigmoid(float g) { return 1.0f / (1.0f + std::exp(-g)); }

TEST_CASE("cuda expert ffn: each stage matches the CPU on the stage's own bf16 inputs, empty experts included" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t E = 4, C = 24, F = 40;
  const std::vector<std::int32_t> offsets{0, 11, 11, 30, 37};  // expert 1 has no rows
  const std::int64_t R = offsets.back();
  const auto rc = static_cast<std::size_t>(R * C), rf = static_cast<std::size_t>(R * F),
             efc = static_cast<std::size_t>(E * F * C);
  auto x = test::rounded_to_bf16(test::normal_values(rc, 11, 1.0f));
  auto wg = test::rounded_to_bf16(test::normal_values(efc, 12, 0.3f));
  auto wu = test::rounded_to_bf16(test::normal_values(efc, 13, 0.3f));
  auto wd = test::rounded_to_bf16(test::normal_values(efc, 14, 0.3f));
  auto dout = test::rounded_to_bf16(test::normal_values(rc, 15, 1.0f));

  Arena arena = test::device_arena((8 * rf + 8 * efc + 4 * rc) * 4 + 32 * Arena::kAlignment);
  const Tensor d_offsets = test::to_device_i32(arena, offsets);
  const ops::ExpertWeights w{test::to_device_bf16(arena, wg, {E, F, C}), test::to_device_bf16(arena, wu, {E, F, C}),
                             test::to_device_bf16(arena, wd, {E, C, F})};
  const ops::ExpertActivations saved{arena.alloc(DType::bf16, {R, F}), arena.alloc(DType::bf16, {R, F}),
                                     arena.alloc(DType::bf16, {R, F})};
  const Tensor d_x = test::to_device_bf16(arena, x, {R, C}), d_out = arena.alloc(DType::bf16, {R, C});
  ops::expert_ffn(d_x, d_offsets, w, saved, d_out);
  auto gate = test::bf16_to_host(saved.gate), up = test::bf16_to_host(saved.up);
  auto hidden = test::bf16_to_host(saved.hidden);
  const auto out = test::bf16_to_host(d_out);

  const ops::ExpertWeights dw{test::to_device(arena, std::vector<float>(efc, 0.5f), {E, F, C}),
                              test::to_device(arena, std::vector<float>(efc, 0.5f), {E, F, C}),
                              test::to_device(arena, std::vector<float>(efc, 0.5f), {E, C, F})};
  const Tensor d_dout = test::to_device_bf16(arena, dout, {R, C}), d_dx = arena.alloc(DType::bf16, {R, C}),
               dgate_work = arena.alloc(DType::bf16, {R, F}), dup_work = arena.alloc(DType::bf16, {R, F});
  ops::expert_ffn_backward(d_dout, d_x, d_offsets, w, saved, d_dx, dw, dgate_work, dup_work);
  auto dgate = test::bf16_to_host(dgate_work), dup = test::bf16_to_host(dup_work);
  const auto dx = test::bf16_to_host(d_dx), dwg = test::to_host(dw.gate), dwu = test::to_host(dw.up),
             dwd = test::to_host(dw.down);

  // Stage by stage, the CPU computes in fp32 from what the GPU stored as the stage's input; each expected value
  // comes with the magnitudes of its terms (the same product on absolute values).
  auto abs_x = absolute(x), abs_wg = absolute(wg), abs_wu = absolute(wu), abs_wd = absolute(wd);
  auto abs_dout = absolute(dout), abs_hidden = absolute(hidden), abs_dgate = absolute(dgate), abs_dup = absolute(dup);
  int outside = 0;
  for (std::int64_t e = 0; e < E; ++e) {
    const std::int64_t begin = offsets[static_cast<std::size_t>(e)];
    const std::int64_t count = offsets[static_cast<std::size_t>(e) + 1] - begin;
    if (count == 0) continue;
    const auto weight = [&](std::vector<float>& all, std::int64_t rows, std::int64_t cols) {
      return make_view(all.data() + e * rows * cols, DType::f32, Device::cpu, {rows, cols});
    };
    const auto product = [&](const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Tensor& abs_a,
                             const Tensor& abs_b, std::int64_t rows, std::int64_t cols) {
      std::vector<float> value(static_cast<std::size_t>(rows * cols)), magnitude(value.size());
      ops::matmul(a, b, test::host_tensor(value, {rows, cols}), trans_a, trans_b);
      ops::matmul(abs_a, abs_b, test::host_tensor(magnitude, {rows, cols}), trans_a, trans_b);
      return std::pair{value, magnitude};
    };
    const auto compare = [&](const float* got, const std::pair<std::vector<float>, std::vector<float>>& expected,
                             std::int64_t terms, bool bf16_result, float base) {
      for (std::size_t i = 0; i < expected.first.size(); ++i)
        outside += within_product(got[i], base + expected.first[i], base + expected.second[i], terms, bf16_result) ? 0 : 1;
    };
    // Forward: gate and up from x; out from the stored hidden.
    compare(gate.data() + begin * F, product(rows_of(x, begin, count, C), weight(wg, F, C), false, true,
                                             rows_of(abs_x, begin, count, C), weight(abs_wg, F, C), count, F),
            C, true, 0.0f);
    compare(up.data() + begin * F, product(rows_of(x, begin, count, C), weight(wu, F, C), false, true,
                                           rows_of(abs_x, begin, count, C), weight(abs_wu, F, C), count, F),
            C, true, 0.0f);
    compare(out.data() + begin * C, product(rows_of(hidden, begin, count, F),
                                            weight(wd, C, F), false, true, rows_of(abs_hidden, begin, count, F),
                                            weight(abs_wd, C, F), count, C),
            F, true, 0.0f);
    // Backward: the weight gradients from the stored activations and gradients, added to 0.5; dx from d gate and
    // d up summed in fp32 before one rounding.
    compare(dwd.data() + e * C * F, product(rows_of(dout, begin, count, C), rows_of(hidden, begin, count, F), true, false,
                                            rows_of(abs_dout, begin, count, C), rows_of(abs_hidden, begin, count, F), C, F),
            count + 1, false, 0.5f);
    compare(dwg.data() + e * F * C, product(rows_of(dgate, begin, count, F), rows_of(x, begin, count, C), true, false,
                                            rows_of(abs_dgate, begin, count, F), rows_of(abs_x, begin, count, C), F, C),
            count + 1, false, 0.5f);
    compare(dwu.data() + e * F * C, product(rows_of(dup, begin, count, F), rows_of(x, begin, count, C), true, false,
                                            rows_of(abs_dup, begin, count, F), rows_of(abs_x, begin, count, C), F, C),
            count + 1, false, 0.5f);
    auto through_gate = product(rows_of(dgate, begin, count, F), weight(wg, F, C), false, false,
                                rows_of(abs_dgate, begin, count, F), weight(abs_wg, F, C), count, C);
    const auto through_up = product(rows_of(dup, begin, count, F), weight(wu, F, C), false, false,
                                    rows_of(abs_dup, begin, count, F), weight(abs_wu, F, C), count, C);
    for (std::size_t i = 0; i < through_gate.first.size(); ++i) {
      through_gate.first[i] += through_up.first[i];
      through_gate.second[i] += through_up.second[i];
    }
    compare(dx.data() + begin * C, through_gate, 2 * F, true, 0.0f);
    // d hidden = dout W_down: the GPU rounded it to bf16 before SwiGLU's backward, which multiplies it by a factor
    // of gate and up, then rounds again.
    const auto dhidden = product(rows_of(dout, begin, count, C), weight(wd, C, F), false, false,
                                 rows_of(abs_dout, begin, count, C), weight(abs_wd, C, F), count, F);
    for (std::size_t j = 0; j < dhidden.first.size(); ++j) {
      const std::size_t i = static_cast<std::size_t>(begin * F) + j;
      const float g = gate[i], u = up[i], s = sigmoid(g);
      const double dh_error = static_cast<double>(C + 1) * kEps * dhidden.second[j] +
                              test::kBf16Rounding * (std::fabs(dhidden.first[j]) + static_cast<double>(C + 1) * kEps * dhidden.second[j]);
      const std::pair<float, float> factors[] = {{u * s * (1.0f + g * (1.0f - s)), dgate[i]}, {g * s, dup[i]}};
      for (const auto& [factor, got] : factors) {
        // The factor itself may differ by a few fp32 units (the GPU's expf against the host's exp).
        const double expected = static_cast<double>(dhidden.first[j]) * factor;
        const double error = dh_error * std::fabs(factor) + 4 * kEps * std::fabs(expected);
        outside += std::fabs(got - expected) <= error + test::kBf16Rounding * (std::fabs(expected) + error) ? 0 : 1;
      }
    }
  }
  CHECK(outside == 0);
}
