// Tests for the grouped expert FFN: forward against a per-row direct formula, backward for inputs and all three
// weight blocks against finite differences, with an expert that receives no rows; the same bits on any thread
// count; offset and shape errors.
#include <doctest/doctest.h>

#include <cmath>

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
  cpu::expert_ffn_forward<double>(kShape, kOffsets.data(), x.data(), {w.gate.data(), w.up.data(), w.down.data()},
                                  saved.ptrs(), out.data());
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
  cpu::expert_ffn_backward<double>(kShape, kOffsets.data(), x.data(), {w.gate.data(), w.up.data(), w.down.data()},
                                   saved.cptrs(), weights.data(), dx.data(), {dgate.data(), dup.data(), ddown.data()},
                                   work_gate.data(), work_up.data());
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
    cpu::expert_ffn_forward<float>(s, offsets.data(), x.data(), w, {saved_gate.data(), saved_up.data(), hidden.data()},
                                   out.data());
    cpu::expert_ffn_backward<float>(s, offsets.data(), x.data(), w, {saved_gate.data(), saved_up.data(), hidden.data()},
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
