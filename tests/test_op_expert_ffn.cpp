// Tests for the grouped expert FFN: forward against a per-row direct formula, backward for inputs and all three
// weight blocks against finite differences, with an expert that receives no rows; the same bits on any thread
// count; the token rows read through a route plan give the grouped rows' bits; offset, gather and shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <initializer_list>
#include <vector>

#include "kernels/cpu/expert_ffn.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"
#include "tests/thread_count.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// Three experts; expert 1 gets no rows.
constexpr cpu::ExpertShape kShape{3, 5, 4, 6};
const std::vector<std::int32_t> kOffsets = {0, 3, 3, 5};
constexpr std::size_t kR = 5, kC = 4, kF = 6;

struct Weights {
  std::vector<double> gate = random_values(3 * kF * kC, 11, -0.8, 0.8);
  std::vector<double> up = random_values(3 * kF * kC, 12, -0.8, 0.8);
  std::vector<double> down = random_values(3 * kC * kF, 13, -0.8, 0.8);
};

// out[r] = W_down[e] (silu(W_gate[e] x_r) * (W_up[e] x_r)), one row at a time.
std::vector<double> direct(const std::vector<double>& x, const Weights& w) {
  std::vector<double> out(kR * kC, 0.0);
  for (std::size_t e = 0; e < 3; ++e)
    for (std::size_t r = static_cast<std::size_t>(kOffsets[e]); r < static_cast<std::size_t>(kOffsets[e + 1]); ++r) {
      std::vector<double> h(kF);
      for (std::size_t f = 0; f < kF; ++f) {
        double g = 0.0, u = 0.0;
        for (std::size_t c = 0; c < kC; ++c) {
          g += w.gate[(e * kF + f) * kC + c] * x[r * kC + c];
          u += w.up[(e * kF + f) * kC + c] * x[r * kC + c];
        }
        h[f] = g / (1.0 + std::exp(-g)) * u;
      }
      for (std::size_t c = 0; c < kC; ++c)
        for (std::size_t f = 0; f < kF; ++f) out[r * kC + c] += w.down[(e * kC + c) * kF + f] * h[f];
    }
  return out;
}

struct Saved {
  std::vector<double> gate = std::vector<double>(kR * kF), up = gate, hidden = gate;
  cpu::ExpertSavedPtrs<double> ptrs() { return {gate.data(), up.data(), hidden.data()}; }
  cpu::ExpertSavedPtrs<const double> cptrs() const { return {gate.data(), up.data(), hidden.data()}; }
};

std::vector<double> forward(const std::vector<double>& x, const Weights& w, Saved& saved) {
  std::vector<double> out(kR * kC);
  cpu::expert_ffn_forward<double>(kShape, kOffsets.data(), cpu::grouped_input(x.data(), kShape.rows),
                                  {w.gate.data(), w.up.data(), w.down.data()}, saved.ptrs(), out.data());
  return out;
}

}  // namespace

TEST_CASE("expert FFN forward matches the per-row formula") {
  const auto x = random_values(kR * kC, 1);
  const Weights w;
  Saved saved;
  CHECK(max_rel_error(forward(x, w, saved), direct(x, w)) < 1e-12);
}

TEST_CASE("expert FFN backward matches finite differences; the empty expert's weights get no gradient") {
  auto x = random_values(kR * kC, 2);
  Weights w;
  const auto weights = random_values(kR * kC, 3);
  auto loss = [&] { return dot(direct(x, w), weights); };
  Saved saved;
  forward(x, w, saved);
  std::vector<double> dx(x.size(), 9.0), dgate(w.gate.size(), 0.0), dup(w.up.size(), 0.0), ddown(w.down.size(), 0.0);
  std::vector<double> work_gate(kR * kF), work_up(kR * kF);
  cpu::expert_ffn_backward<double>(kShape, kOffsets.data(), cpu::grouped_input(x.data(), kShape.rows),
                                   {w.gate.data(), w.up.data(), w.down.data()}, saved.cptrs(), weights.data(),
                                   dx.data(), {dgate.data(), dup.data(), ddown.data()}, work_gate.data(),
                                   work_up.data());
  CHECK(max_rel_error(dx, numeric_gradient(x, loss)) < 1e-6);
  CHECK(max_rel_error(dgate, numeric_gradient(w.gate, loss)) < 1e-6);
  CHECK(max_rel_error(dup, numeric_gradient(w.up, loss)) < 1e-6);
  CHECK(max_rel_error(ddown, numeric_gradient(w.down, loss)) < 1e-6);
  for (std::size_t i = kF * kC; i < 2 * kF * kC; ++i) CHECK(dgate[i] == 0.0);
}

TEST_CASE("expert FFN forward and backward are bitwise the same on 1, 2 and 3 threads") {
  // Expert 1 gets no rows; experts 0 and 2 get enough to span several gemm tiles.
  constexpr cpu::ExpertShape s{3, 400, 48, 40};
  const std::vector<std::int32_t> offsets = {0, 150, 150, 400};
  const auto size = [](std::int64_t rows, std::int64_t cols) { return static_cast<std::size_t>(rows * cols); };
  const auto x = to_float(random_values(size(s.rows, s.dim), 21));
  const auto dout = to_float(random_values(size(s.rows, s.dim), 22));
  const auto gate = to_float(random_values(size(s.experts * s.hidden, s.dim), 23, -0.3, 0.3));
  const auto up = to_float(random_values(size(s.experts * s.hidden, s.dim), 24, -0.3, 0.3));
  const auto down = to_float(random_values(size(s.experts * s.dim, s.hidden), 25, -0.3, 0.3));
  const cpu::ExpertWeightPtrs<const float> w{gate.data(), up.data(), down.data()};
  const auto results = on_one_two_three_threads([&] {
    std::vector<float> out(x.size()), dx(x.size()), saved_gate(size(s.rows, s.hidden));
    std::vector<float> saved_up(saved_gate.size()), hidden(saved_gate.size());
    std::vector<float> work_gate(saved_gate.size()), work_up(saved_gate.size());
    std::vector<float> dgate(gate.size(), 0.0f), dup(up.size(), 0.0f), ddown(down.size(), 0.0f);
    const cpu::ExpertInputPtrs<const float> input = cpu::grouped_input(x.data(), s.rows);
    cpu::expert_ffn_forward<float>(s, offsets.data(), input, w, {saved_gate.data(), saved_up.data(), hidden.data()},
                                   out.data());
    cpu::expert_ffn_backward<float>(s, offsets.data(), input, w, {saved_gate.data(), saved_up.data(), hidden.data()},
                                    dout.data(), dx.data(), {dgate.data(), dup.data(), ddown.data()},
                                    work_gate.data(), work_up.data());
    return std::vector<std::vector<float>>{out, dx, dgate, dup, ddown};
  });
  CHECK(results[1] == results[0]);
  CHECK(results[2] == results[0]);
}

TEST_CASE("expert FFN op rejects inconsistent offsets and weights") {
  std::vector<float> x(kR * kC, 0.5f), out(kR * kC), gate(3 * kF * kC, 0.1f), down(3 * kC * kF, 0.1f);
  std::vector<float> saved_gate(kR * kF), saved_up(kR * kF), saved_hidden(kR * kF);
  std::vector<std::int32_t> offsets = {0, 3, 3, 4};
  Tensor tx = make_view(x.data(), DType::f32, Device::cpu, {5, 4});
  Tensor toffsets = make_view(offsets.data(), DType::i32, Device::cpu, {4});
  ops::ExpertWeights w{make_view(gate.data(), DType::f32, Device::cpu, {3, 6, 4}),
                       make_view(gate.data(), DType::f32, Device::cpu, {3, 6, 4}),
                       make_view(down.data(), DType::f32, Device::cpu, {3, 4, 6})};
  ops::ExpertActivations saved{make_view(saved_gate.data(), DType::f32, Device::cpu, {5, 6}),
                               make_view(saved_up.data(), DType::f32, Device::cpu, {5, 6}),
                               make_view(saved_hidden.data(), DType::f32, Device::cpu, {5, 6})};
  Tensor tout = make_view(out.data(), DType::f32, Device::cpu, {5, 4});
  CHECK(contains(error_message([&] { ops::expert_ffn(tx, toffsets, w, saved, tout); }),
                 "expert_ffn: offsets run from 0 to 4, expected 0 to the 5 grouped rows"));
  offsets[3] = 5;
  ops::expert_ffn(tx, toffsets, w, saved, tout);
  CHECK(std::isfinite(out[0]));
  ops::ExpertWeights transposed = w;
  transposed.down = make_view(down.data(), DType::f32, Device::cpu, {3, 6, 4});
  CHECK(contains(error_message([&] { ops::expert_ffn(tx, toffsets, transposed, saved, tout); }),
                 "expert_ffn: w.down: dim 1 is 6, expected 4 (C, the width of x)"));
}

namespace {

// A CPU tensor over a host vector.
template <class T>
Tensor view(std::vector<T>& values, DType dtype, std::initializer_list<std::int64_t> shape) {
  return make_view(values.data(), dtype, Device::cpu, shape);
}

// One forward and backward of the op on the CPU: every output, for a bitwise comparison.
std::vector<std::vector<float>> run_op(const ops::ExpertInput& x, const Tensor& offsets, const ops::ExpertWeights& w,
                                       std::int64_t rows, std::int64_t dim, std::int64_t hidden,
                                       std::vector<float>& dout) {
  const auto rc = static_cast<std::size_t>(rows * dim), rf = static_cast<std::size_t>(rows * hidden);
  std::vector<float> gate(rf), up(rf), hid(rf), out(rc), dx(rc), dgate_work(rf), dup_work(rf);
  std::vector<float> dwg(static_cast<std::size_t>(w.gate.numel()), 0.0f), dwu(dwg.size(), 0.0f), dwd(dwg.size(), 0.0f);
  const ops::ExpertActivations saved{view(gate, DType::f32, {rows, hidden}), view(up, DType::f32, {rows, hidden}),
                                     view(hid, DType::f32, {rows, hidden})};
  ops::expert_ffn(x, offsets, w, saved, view(out, DType::f32, {rows, dim}));
  const ops::ExpertWeights dw{view(dwg, DType::f32, {w.gate.dim(0), hidden, dim}),
                              view(dwu, DType::f32, {w.gate.dim(0), hidden, dim}),
                              view(dwd, DType::f32, {w.gate.dim(0), dim, hidden})};
  ops::expert_ffn_backward(view(dout, DType::f32, {rows, dim}), x, offsets, w, saved,
                           view(dx, DType::f32, {rows, dim}), dw, view(dgate_work, DType::f32, {rows, hidden}),
                           view(dup_work, DType::f32, {rows, hidden}));
  return {gate, up, hid, out, dx, dwg, dwu, dwd};
}

}  // namespace

TEST_CASE("expert FFN reading the tokens through the route plan gives the bits of the grouped rows") {
  // 7 tokens, top-2 over 4 experts; expert 2 gets no copy, and token 3 sends both copies to expert 0.
  constexpr std::int64_t N = 7, k = 2, E = 4, C = 12, F = 10, R = N * k;
  std::vector<std::int32_t> topk = {0, 1, 3, 0, 1, 3, 0, 3, 1, 0, 3, 1, 0, 1};
  std::vector<std::int32_t> counts(E), offsets(E + 1), row_of_copy(R), copy_of_row(R);
  const ops::RoutePlan plan{view(counts, DType::i32, {E}), view(offsets, DType::i32, {E + 1}),
                            view(row_of_copy, DType::i32, {N, k}), view(copy_of_row, DType::i32, {R})};
  ops::route_plan(view(topk, DType::i32, {N, k}), plan);
  CHECK(counts[2] == 0);
  auto tokens = to_float(random_values(N * C, 31));
  std::vector<float> grouped(R * C);
  ops::dispatch(view(tokens, DType::f32, {N, C}), plan, view(grouped, DType::f32, {R, C}));
  auto gate = to_float(random_values(E * F * C, 32, -0.4, 0.4)), up = to_float(random_values(E * F * C, 33, -0.4, 0.4));
  auto down = to_float(random_values(E * C * F, 34, -0.4, 0.4)), dout = to_float(random_values(R * C, 35));
  const ops::ExpertWeights w{view(gate, DType::f32, {E, F, C}), view(up, DType::f32, {E, F, C}),
                             view(down, DType::f32, {E, C, F})};
  const auto from_grouped = run_op(view(grouped, DType::f32, {R, C}), plan.offsets, w, R, C, F, dout);
  const auto gathered =
      run_op(ops::ExpertInput::gathered(view(tokens, DType::f32, {N, C}), plan), plan.offsets, w, R, C, F, dout);
  CHECK(gathered == from_grouped);
}

TEST_CASE("expert FFN op rejects a gather that names a copy outside the tokens") {
  constexpr std::int64_t N = 2, k = 2, C = 4, F = 6, R = N * k;
  std::vector<float> tokens(N * C, 0.5f), weights(3 * F * C, 0.1f), out(R * C), saved_values(3 * R * F);
  std::vector<std::int32_t> offsets = {0, 2, 2, 4}, copy_of_row = {0, 3, 1, 2}, row_of_copy(R);
  const ops::RoutePlan plan{Tensor{}, view(offsets, DType::i32, {4}), view(row_of_copy, DType::i32, {N, k}),
                            view(copy_of_row, DType::i32, {R})};
  const ops::ExpertWeights w{view(weights, DType::f32, {3, F, C}), view(weights, DType::f32, {3, F, C}),
                             view(weights, DType::f32, {3, C, F})};
  const ops::ExpertActivations saved{make_view(saved_values.data(), DType::f32, Device::cpu, {R, F}),
                                     make_view(saved_values.data() + R * F, DType::f32, Device::cpu, {R, F}),
                                     make_view(saved_values.data() + 2 * R * F, DType::f32, Device::cpu, {R, F})};
  const ops::ExpertInput x = ops::ExpertInput::gathered(view(tokens, DType::f32, {N, C}), plan);
  ops::expert_ffn(x, plan.offsets, w, saved, view(out, DType::f32, {R, C}));
  CHECK(out[0] == doctest::Approx(0.5 * 4 * 0.1 / (1 + std::exp(-0.2)) * 0.2 * 0.1 * 6));
  copy_of_row[2] = 4;
  CHECK(contains(error_message([&] { ops::expert_ffn(x, plan.offsets, w, saved, view(out, DType::f32, {R, C})); }),
                 "expert_ffn: grouped row 2 holds copy 4, outside the 4 copies of x's 2 rows"));
  const Tensor narrow = view(out, DType::f32, {R, C - 1});
  CHECK(contains(error_message([&] { ops::expert_ffn(x, plan.offsets, w, saved, narrow); }),
                 "expert_ffn: out: dim 1 is 3, expected 4 (C, the width of x)"));
}
