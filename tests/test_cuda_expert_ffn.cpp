// Tests of the CUDA expert FFN (grouped tensor-core products reading the row offsets on the device) against the CPU
// reference, stage by stage on each stage's own bf16 inputs, over groupings that reach every edge of the row tiles:
// empty experts, one expert holding every row, tiny experts, rows and widths off the tile sizes. Also the same bits
// on every run, the tokens read through a route plan giving the bits of the grouped rows, and malformed offsets and
// gathers read without leaving the tensors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"
#include "tests/product_tolerance.h"

using namespace diverge;
using test::absolute;
using test::within_product;

namespace {

// An expert FFN's widths and grouping: R = offsets.back() rows.
struct Grouping {
  std::int64_t experts, dim, hidden;
  std::vector<std::int32_t> offsets;
};

// Every input and output of one forward and backward on the device, read back (bf16 values as floats).
struct ExpertRun {
  std::vector<float> x, wg, wu, wd, dout;           // the inputs, bf16-representable
  std::vector<float> gate, up, hidden, out;         // the forward's saved activations and output
  std::vector<float> dgate, dup, dx, dwg, dwu, dwd;  // the backward's workspaces and gradients (dw from 0.5)
};

constexpr float kWeightGradientStart = 0.5f;  // the weight gradients are added to this

ExpertRun random_inputs(const Grouping& g) {
  const std::int64_t E = g.experts, C = g.dim, F = g.hidden, R = g.offsets.back();
  const auto rc = static_cast<std::size_t>(R * C), efc = static_cast<std::size_t>(E * F * C);
  ExpertRun run;
  run.x = test::rounded_to_bf16(test::normal_values(rc, 11, 1.0f));
  run.wg = test::rounded_to_bf16(test::normal_values(efc, 12, 0.3f));
  run.wu = test::rounded_to_bf16(test::normal_values(efc, 13, 0.3f));
  run.wd = test::rounded_to_bf16(test::normal_values(efc, 14, 0.3f));
  run.dout = test::rounded_to_bf16(test::normal_values(rc, 15, 1.0f));
  return run;
}

// Token rows the device reads the grouped rows from instead of run.x: grouped row r is tokens[copy_of_row[r] / k].
struct TokenGather {
  std::vector<float> tokens;  // (N, C), bf16-representable
  std::vector<std::int32_t> copy_of_row;
  std::int64_t top_k;
};

// The grouped rows a gather reads, on the host: a copy naming a token outside the tokens reads zeros.
std::vector<float> gathered_on_host(const TokenGather& gather, std::int64_t dim) {
  const auto tokens = static_cast<std::int64_t>(gather.tokens.size()) / dim;
  std::vector<float> rows(gather.copy_of_row.size() * static_cast<std::size_t>(dim), 0.0f);
  for (std::size_t r = 0; r < gather.copy_of_row.size(); ++r) {
    const std::int64_t token = gather.copy_of_row[r] / gather.top_k;
    if (token < 0 || token >= tokens) continue;
    for (std::int64_t c = 0; c < dim; ++c)
      rows[r * static_cast<std::size_t>(dim) + static_cast<std::size_t>(c)] =
          gather.tokens[static_cast<std::size_t>(token * dim + c)];
  }
  return rows;
}

// Runs the forward and backward on run's inputs, the rows from run.x or through `gather`, into run's outputs.
void run_on_device(const Grouping& g, const std::vector<std::int32_t>& device_offsets, ExpertRun& run,
                   const TokenGather* gather = nullptr) {
  const std::int64_t E = g.experts, C = g.dim, F = g.hidden, R = g.offsets.back();
  const auto rc = static_cast<std::size_t>(R * C), rf = static_cast<std::size_t>(R * F),
             efc = static_cast<std::size_t>(E * F * C);
  const std::size_t gather_bytes = gather == nullptr ? 0 : gather->tokens.size() * 2 + gather->copy_of_row.size() * 4;
  Arena arena = test::device_arena((8 * rf + 8 * efc + 4 * rc) * 4 + gather_bytes + 32 * Arena::kAlignment);
  const Tensor d_offsets = test::to_device_i32(arena, device_offsets);
  const ops::ExpertWeights w{test::to_device_bf16(arena, run.wg, {E, F, C}),
                             test::to_device_bf16(arena, run.wu, {E, F, C}),
                             test::to_device_bf16(arena, run.wd, {E, C, F})};
  const ops::ExpertActivations saved{arena.alloc(DType::bf16, {R, F}), arena.alloc(DType::bf16, {R, F}),
                                     arena.alloc(DType::bf16, {R, F})};
  const Tensor d_out = arena.alloc(DType::bf16, {R, C});
  ops::ExpertInput d_x(test::to_device_bf16(arena, run.x, {R, C}));
  if (gather != nullptr) {
    const auto tokens = static_cast<std::int64_t>(gather->tokens.size()) / C;
    d_x.x = test::to_device_bf16(arena, gather->tokens, {tokens, C});
    d_x.copy_of_row = test::to_device_i32(arena, gather->copy_of_row);
    d_x.top_k = gather->top_k;
  }
  ops::expert_ffn(d_x, d_offsets, w, saved, d_out);
  run.gate = test::bf16_to_host(saved.gate);
  run.up = test::bf16_to_host(saved.up);
  run.hidden = test::bf16_to_host(saved.hidden);
  run.out = test::bf16_to_host(d_out);

  const std::vector<float> start(efc, kWeightGradientStart);
  const ops::ExpertWeights dw{test::to_device(arena, start, {E, F, C}), test::to_device(arena, start, {E, F, C}),
                              test::to_device(arena, start, {E, C, F})};
  const Tensor d_dout = test::to_device_bf16(arena, run.dout, {R, C}), d_dx = arena.alloc(DType::bf16, {R, C}),
               dgate_work = arena.alloc(DType::bf16, {R, F}), dup_work = arena.alloc(DType::bf16, {R, F});
  ops::expert_ffn_backward(d_dout, d_x, d_offsets, w, saved, d_dx, dw, dgate_work, dup_work);
  run.dgate = test::bf16_to_host(dgate_work);
  run.dup = test::bf16_to_host(dup_work);
  run.dx = test::bf16_to_host(d_dx);
  run.dwg = test::to_host(dw.gate);
  run.dwu = test::to_host(dw.up);
  run.dwd = test::to_host(dw.down);
}

ExpertRun run_on_device(const Grouping& g, const std::vector<std::int32_t>& device_offsets) {
  ExpertRun run = random_inputs(g);
  run_on_device(g, device_offsets, run);
  return run;
}

// Every output of two runs, the same bits.
void check_same_outputs(const ExpertRun& first, const ExpertRun& second) {
  for (const auto member : {&ExpertRun::gate, &ExpertRun::up, &ExpertRun::hidden, &ExpertRun::out, &ExpertRun::dgate,
                            &ExpertRun::dup, &ExpertRun::dx, &ExpertRun::dwg, &ExpertRun::dwu, &ExpertRun::dwd})
    CHECK(first.*member == second.*member);
}

// A CPU view of rows [begin, begin + count) of a row-major (rows, width) host array.
Tensor rows_of(std::vector<float>& values, std::int64_t begin, std::int64_t count, std::int64_t width) {
  return make_view(values.data() + begin * width, DType::f32, Device::cpu, {count, width});
}

float sigmoid(float g) { return 1.0f / (1.0f + std::exp(-g)); }

// The values outside their tolerance, stage by stage: the CPU computes in fp32 from what the GPU stored as the
// stage's input; each expected value comes with the magnitudes of its terms (the same product on absolute values).
int count_outside(const Grouping& g, ExpertRun& run) {
  const std::int64_t E = g.experts, C = g.dim, F = g.hidden;
  auto abs_x = absolute(run.x), abs_wg = absolute(run.wg), abs_wu = absolute(run.wu), abs_wd = absolute(run.wd);
  auto abs_dout = absolute(run.dout), abs_hidden = absolute(run.hidden), abs_dgate = absolute(run.dgate),
       abs_dup = absolute(run.dup);
  int outside = 0;
  // hidden = silu(gate) * up from the stored, rounded gate and up: a few fp32 units apart (the GPU's expf against
  // the host's exp), then one bf16 rounding.
  for (std::size_t i = 0; i < run.hidden.size(); ++i) {
    const float expected = run.gate[i] * sigmoid(run.gate[i]) * run.up[i];
    outside += test::within_bf16_of(run.hidden[i], expected, 4 * test::kTwoSums * std::fabs(expected)) ? 0 : 1;
  }
  for (std::int64_t e = 0; e < E; ++e) {
    const std::int64_t begin = g.offsets[static_cast<std::size_t>(e)];
    const std::int64_t count = g.offsets[static_cast<std::size_t>(e) + 1] - begin;
    if (count == 0) {
      // An expert without rows leaves its weight gradients as they were.
      for (const std::vector<float>* dw : {&run.dwg, &run.dwu, &run.dwd})
        for (std::int64_t i = e * F * C; i < (e + 1) * F * C; ++i)
          outside += (*dw)[static_cast<std::size_t>(i)] == kWeightGradientStart ? 0 : 1;
      continue;
    }
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
        outside +=
            within_product(got[i], base + expected.first[i], base + expected.second[i], terms, bf16_result) ? 0 : 1;
    };
    // Forward: gate and up from x; out from the stored hidden.
    compare(run.gate.data() + begin * F,
            product(rows_of(run.x, begin, count, C), weight(run.wg, F, C), false, true,
                    rows_of(abs_x, begin, count, C), weight(abs_wg, F, C), count, F),
            C, true, 0.0f);
    compare(run.up.data() + begin * F,
            product(rows_of(run.x, begin, count, C), weight(run.wu, F, C), false, true,
                    rows_of(abs_x, begin, count, C), weight(abs_wu, F, C), count, F),
            C, true, 0.0f);
    compare(run.out.data() + begin * C,
            product(rows_of(run.hidden, begin, count, F), weight(run.wd, C, F), false, true,
                    rows_of(abs_hidden, begin, count, F), weight(abs_wd, C, F), count, C),
            F, true, 0.0f);
    // Backward: the weight gradients from the stored activations and gradients, added to their start; dx from d
    // gate and d up summed in fp32 before one rounding.
    compare(run.dwd.data() + e * C * F,
            product(rows_of(run.dout, begin, count, C), rows_of(run.hidden, begin, count, F), true, false,
                    rows_of(abs_dout, begin, count, C), rows_of(abs_hidden, begin, count, F), C, F),
            count + 1, false, kWeightGradientStart);
    compare(run.dwg.data() + e * F * C,
            product(rows_of(run.dgate, begin, count, F), rows_of(run.x, begin, count, C), true, false,
                    rows_of(abs_dgate, begin, count, F), rows_of(abs_x, begin, count, C), F, C),
            count + 1, false, kWeightGradientStart);
    compare(run.dwu.data() + e * F * C,
            product(rows_of(run.dup, begin, count, F), rows_of(run.x, begin, count, C), true, false,
                    rows_of(abs_dup, begin, count, F), rows_of(abs_x, begin, count, C), F, C),
            count + 1, false, kWeightGradientStart);
    auto through_gate = product(rows_of(run.dgate, begin, count, F), weight(run.wg, F, C), false, false,
                                rows_of(abs_dgate, begin, count, F), weight(abs_wg, F, C), count, C);
    const auto through_up = product(rows_of(run.dup, begin, count, F), weight(run.wu, F, C), false, false,
                                    rows_of(abs_dup, begin, count, F), weight(abs_wu, F, C), count, C);
    for (std::size_t i = 0; i < through_gate.first.size(); ++i) {
      through_gate.first[i] += through_up.first[i];
      through_gate.second[i] += through_up.second[i];
    }
    compare(run.dx.data() + begin * C, through_gate, 2 * F, true, 0.0f);
    // d hidden = dout W_down stays fp32 into SwiGLU's backward, which multiplies it by a factor of gate and up, then
    // rounds once.
    const auto dhidden = product(rows_of(run.dout, begin, count, C), weight(run.wd, C, F), false, false,
                                 rows_of(abs_dout, begin, count, C), weight(abs_wd, C, F), count, F);
    for (std::size_t j = 0; j < dhidden.first.size(); ++j) {
      const std::size_t i = static_cast<std::size_t>(begin * F) + j;
      const float gate = run.gate[i], up = run.up[i], s = sigmoid(gate);
      const double dh_error = static_cast<double>(C + 1) * test::kTwoSums * dhidden.second[j];
      const std::pair<float, float> factors[] = {{up * s * (1.0f + gate * (1.0f - s)), run.dgate[i]},
                                                 {gate * s, run.dup[i]}};
      for (const auto& [factor, got] : factors) {
        // The factor itself may differ by a few fp32 units (the GPU's expf against the host's exp).
        const double expected = static_cast<double>(dhidden.first[j]) * factor;
        const double error = dh_error * std::fabs(factor) + 4 * test::kTwoSums * std::fabs(expected);
        outside += test::within_bf16_of(got, expected, error) ? 0 : 1;
      }
    }
  }
  return outside;
}

}  // namespace

TEST_CASE("cuda expert ffn: each stage matches the CPU on the stage's own bf16 inputs, over every kind of grouping" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // Row tiles are 64 rows; output tiles 128 columns (64 of gate and of up in the fused product); the reduction
  // moves 32 at a time through 3 stages.
  const std::pair<const char*, Grouping> groupings[] = {
      {"an empty expert between others", {4, 24, 40, {0, 11, 11, 30, 37}}},
      {"one expert holds every row, over several row tiles", {3, 32, 24, {0, 0, 150, 150}}},
      {"tiny experts, the first and last empty", {8, 32, 24, {0, 0, 1, 3, 3, 4, 9, 10, 10}}},
      {"several column tiles and reduction steps", {3, 40, 136, {0, 40, 40, 97}}},
      {"widths off 16-byte chunks, copied element by element", {3, 20, 13, {0, 5, 5, 70}}},
  };
  for (const auto& [name, grouping] : groupings) {
    CAPTURE(std::string(name));
    ExpertRun run = run_on_device(grouping, grouping.offsets);
    CHECK(count_outside(grouping, run) == 0);
  }
}

TEST_CASE("cuda expert ffn: the same bits on every run" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const Grouping grouping{4, 32, 24, {0, 70, 70, 71, 139}};
  check_same_outputs(run_on_device(grouping, grouping.offsets), run_on_device(grouping, grouping.offsets));
}

TEST_CASE("cuda expert ffn: the tokens read through the route plan give the grouped rows' bits; a copy outside the "
          "tokens reads zeros" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // 50 tokens, top-3 over 5 experts (expert 2 chosen by none): 150 grouped rows over several row tiles, in the order
  // the route plan gives them.
  constexpr std::int64_t N = 50, k = 3, E = 5, C = 40, F = 24;
  std::vector<std::int32_t> topk(N * k), counts(E), offsets(E + 1), row_of_copy(N * k), copy_of_row(N * k);
  for (std::size_t c = 0; c < topk.size(); ++c) {
    const auto expert = static_cast<std::int32_t>((c * 7 + c / k) % 4);
    topk[c] = expert == 2 ? 4 : expert;
  }
  cpu::route_plan(topk.data(), N, k, E, counts.data(), offsets.data(), row_of_copy.data(), copy_of_row.data());
  const Grouping grouping{E, C, F, offsets};
  TokenGather gather{test::rounded_to_bf16(test::normal_values(N * C, 21, 1.0f)), copy_of_row, k};
  for (const bool malformed : {false, true}) {
    CAPTURE(malformed);
    if (malformed) {
      gather.copy_of_row[5] = 10000;  // token 3333 of 50
      gather.copy_of_row[70] = -7;    // token -2
    }
    ExpertRun grouped = random_inputs(grouping), through_plan = random_inputs(grouping);
    grouped.x = gathered_on_host(gather, C);
    run_on_device(grouping, grouping.offsets, grouped);
    run_on_device(grouping, grouping.offsets, through_plan, &gather);
    check_same_outputs(grouped, through_plan);
  }
}

TEST_CASE("cuda expert ffn: malformed offsets on the device are clamped, never read or written past the tensors" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // The host grouping sizes the tensors (R = 40); the device reads offsets that go negative, decrease and run past
  // R: clamped, experts 0 and 2 own rows [0, 30) and [12, 40), so every dx row is written. AddressSanitizer catches
  // an access outside the tensors.
  const Grouping grouping{4, 16, 24, {0, 10, 20, 30, 40}};
  const ExpertRun run = run_on_device(grouping, {-5, 30, 12, 200, 41});
  int not_finite = 0;
  for (const float dx : run.dx) not_finite += std::isfinite(dx) ? 0 : 1;
  CHECK(not_finite == 0);
}
