// Tests for the matmul op: forward against a triple loop, both backward products against finite differences, and
// the same bits on any thread count.
#include <doctest/doctest.h>

#include "kernels/cpu/gemm_tiles.h"
#include "kernels/cpu/matmul.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"
#include "tests/thread_count.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// op(x)[i][j] for x stored row-major as (rows, cols) when not transposed, (cols, rows) when transposed.
double at(const std::vector<double>& x, bool trans, std::int64_t i, std::int64_t j, std::int64_t rows,
          std::int64_t cols) {
  return trans ? x[static_cast<std::size_t>(j * rows + i)] : x[static_cast<std::size_t>(i * cols + j)];
}

std::vector<double> naive_product(const cpu::GemmShape& s, const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> c(static_cast<std::size_t>(s.m * s.n), 0.0);
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t j = 0; j < s.n; ++j)
      for (std::int64_t p = 0; p < s.k; ++p)
        c[static_cast<std::size_t>(i * s.n + j)] += at(a, s.trans_a, i, p, s.m, s.k) * at(b, s.trans_b, p, j, s.k, s.n);
  return c;
}

// One product's extents in every transpose layout.
std::vector<cpu::GemmShape> every_layout(std::int64_t m, std::int64_t n, std::int64_t k) {
  return {{m, n, k, false, false}, {m, n, k, true, false}, {m, n, k, false, true}, {m, n, k, true, true}};
}

}  // namespace

TEST_CASE("gemm matches a triple loop in every transpose layout, and accumulates on request") {
  // The second size spans several gemm tiles.
  CHECK(cpu::gemm_tiles(100, 70).count() > 1);
  std::vector<cpu::GemmShape> shapes = every_layout(5, 4, 3);
  for (const auto& tiled : every_layout(100, 70, 9)) shapes.push_back(tiled);
  for (const auto& s : shapes) {
    CAPTURE(s.m);
    CAPTURE(s.trans_a);
    CAPTURE(s.trans_b);
    auto a = random_values(static_cast<std::size_t>(s.m * s.k), 1);
    auto b = random_values(static_cast<std::size_t>(s.k * s.n), 2);
    std::vector<double> c(static_cast<std::size_t>(s.m * s.n), 0.5);
    cpu::gemm(s, a.data(), b.data(), c.data(), false);
    const auto want = naive_product(s, a, b);
    CHECK(max_rel_error(c, want) < 1e-12);
    cpu::gemm(s, a.data(), b.data(), c.data(), true);
    std::vector<double> twice(want.size());
    for (std::size_t i = 0; i < want.size(); ++i) twice[i] = 2.0 * want[i];
    CHECK(max_rel_error(c, twice) < 1e-12);
  }
}

TEST_CASE("gemm backward matches finite differences in every transpose layout") {
  for (const auto& s : every_layout(5, 4, 3)) {
    CAPTURE(s.trans_a);
    CAPTURE(s.trans_b);
    auto a = random_values(static_cast<std::size_t>(s.m * s.k), 3);
    auto b = random_values(static_cast<std::size_t>(s.k * s.n), 4);
    const auto weights = random_values(static_cast<std::size_t>(s.m * s.n), 5);
    auto loss = [&] { return dot(naive_product(s, a, b), weights); };
    std::vector<double> da(a.size(), 9.0), db(b.size(), 9.0);
    cpu::gemm_backward(s, weights.data(), a.data(), b.data(), da.data(), false, db.data(), false);
    CHECK(max_rel_error(da, numeric_gradient(a, loss)) < 1e-6);
    CHECK(max_rel_error(db, numeric_gradient(b, loss)) < 1e-6);
  }
}

TEST_CASE("gemm and its backward give bitwise the same products on 1, 2 and 3 threads") {
  for (const auto& s : every_layout(300, 200, 70)) {
    CAPTURE(s.trans_a);
    CAPTURE(s.trans_b);
    REQUIRE(cpu::gemm_tiles(s.m, s.n).count() > 3);
    const auto a = to_float(random_values(static_cast<std::size_t>(s.m * s.k), 11));
    const auto b = to_float(random_values(static_cast<std::size_t>(s.k * s.n), 12));
    const auto dc = to_float(random_values(static_cast<std::size_t>(s.m * s.n), 13));
    const auto results = on_one_two_three_threads([&] {
      std::vector<float> c(dc.size(), 0.5f), da(a.size(), 0.5f), db(b.size(), 0.5f);
      cpu::gemm(s, a.data(), b.data(), c.data(), true);
      cpu::gemm_backward(s, dc.data(), a.data(), b.data(), da.data(), false, db.data(), true);
      return std::vector<std::vector<float>>{c, da, db};
    });
    CHECK(results[1] == results[0]);
    CHECK(results[2] == results[0]);
  }
}

TEST_CASE("matmul op flattens leading dimensions and reports shape mismatches by name") {
  auto a = to_float(random_values(2 * 3 * 4, 6));
  auto w = to_float(random_values(5 * 4, 7));
  std::vector<float> out(2 * 3 * 5, 0.0f);
  Tensor ta = make_view(a.data(), DType::f32, Device::cpu, {2, 3, 4});
  Tensor tw = make_view(w.data(), DType::f32, Device::cpu, {5, 4});
  Tensor tout = make_view(out.data(), DType::f32, Device::cpu, {2, 3, 5});
  ops::matmul(ta, tw, tout, false, true);
  double want = 0.0;
  for (int p = 0; p < 4; ++p) want += static_cast<double>(a[4 + p]) * static_cast<double>(w[2 * 4 + p]);
  CHECK(out[5 + 2] == doctest::Approx(want).epsilon(1e-6));

  const std::string wrong_inner = error_message([&] { ops::matmul(ta, tw, tout, false, false); });
  CHECK(contains(wrong_inner, "matmul: b: dim 0 is 5, expected 4"));
  Tensor short_out = make_view(out.data(), DType::f32, Device::cpu, {5, 5});
  CHECK(contains(error_message([&] { ops::matmul(ta, tw, short_out, false, true); }), "matmul: out:"));
  Tensor ints = make_view(out.data(), DType::i32, Device::cpu, {5, 4});
  CHECK(contains(error_message([&] { ops::matmul(ta, ints, tout, false, true); }), "matmul: b: expected f32"));
  Tensor on_gpu = make_view(w.data(), DType::f32, Device::cuda, {5, 4});
  CHECK(contains(error_message([&] { ops::matmul(ta, on_gpu, tout, false, true); }), "b is on cuda but a is on cpu"));
}

TEST_CASE("matmul op backward writes da and accumulates db when asked") {
  auto a = to_float(random_values(3 * 4, 8));
  auto b = to_float(random_values(4 * 2, 9));
  auto dout = to_float(random_values(3 * 2, 10));
  std::vector<float> da(a.size(), 7.0f), db(b.size(), 1.0f);
  Tensor ta = make_view(a.data(), DType::f32, Device::cpu, {3, 4});
  Tensor tb = make_view(b.data(), DType::f32, Device::cpu, {4, 2});
  ops::matmul_backward(make_view(dout.data(), DType::f32, Device::cpu, {3, 2}), ta, tb,
                       make_view(da.data(), DType::f32, Device::cpu, {3, 4}),
                       make_view(db.data(), DType::f32, Device::cpu, {4, 2}), false, false, ops::Write::overwrite,
                       ops::Write::accumulate);
  // da[0][1] = sum_j dout[0][j] b[1][j];  db[1][0] = 1 + sum_i a[i][1] dout[i][0]
  double da01 = 0.0, db10 = 1.0;
  for (std::size_t j = 0; j < 2; ++j) da01 += static_cast<double>(dout[j]) * static_cast<double>(b[2 + j]);
  for (std::size_t i = 0; i < 3; ++i) db10 += static_cast<double>(a[i * 4 + 1]) * static_cast<double>(dout[i * 2]);
  CHECK(da[1] == doctest::Approx(da01).epsilon(1e-5));
  CHECK(db[2] == doctest::Approx(db10).epsilon(1e-5));
}
