// Tests for MoE dispatch/combine: the stable routing plan, a permutation round trip, a zero-token expert, and
// gradients of dispatch and combine (rows and gates) against finite differences.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/cpu/dispatch.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// A plan with its storage, built from topk (tokens, top_k).
struct Plan {
  std::vector<std::int32_t> counts, offsets, row_of_copy, copy_of_row;
  std::int64_t tokens, top_k;
  Plan(const std::vector<std::int32_t>& topk, std::int64_t tokens_, std::int64_t top_k_, std::int64_t experts)
      : counts(static_cast<std::size_t>(experts)),
        offsets(static_cast<std::size_t>(experts + 1)),
        row_of_copy(topk.size()),
        copy_of_row(topk.size()),
        tokens(tokens_),
        top_k(top_k_) {
    cpu::route_plan(topk.data(), tokens, top_k, experts, counts.data(), offsets.data(), row_of_copy.data(),
                    copy_of_row.data());
  }
  cpu::RoutePlanView view() const { return {row_of_copy.data(), copy_of_row.data(), tokens, top_k}; }
};

// Four tokens, two choices each, four experts; expert 2 is never chosen.
const std::vector<std::int32_t> kTopk = {1, 0, 3, 1, 0, 3, 1, 3};

}  // namespace

TEST_CASE("route plan groups copies by expert, stable in (token, k) order, with an empty expert") {
  const Plan plan(kTopk, 4, 2, 4);
  CHECK(plan.counts == std::vector<std::int32_t>{2, 3, 0, 3});
  CHECK(plan.offsets == std::vector<std::int32_t>{0, 2, 5, 5, 8});
  // expert 0: copies 1, 4; expert 1: copies 0, 3, 6; expert 3: copies 2, 5, 7
  CHECK(plan.copy_of_row == std::vector<std::int32_t>{1, 4, 0, 3, 6, 2, 5, 7});
  for (std::size_t c = 0; c < kTopk.size(); ++c)
    CHECK(plan.copy_of_row[static_cast<std::size_t>(plan.row_of_copy[c])] == static_cast<std::int32_t>(c));
}

TEST_CASE("dispatch then combine with gates summing to one gives the input back") {
  const Plan plan(kTopk, 4, 2, 4);
  const auto x = random_values(4 * 3, 1);
  const std::vector<double> gates = {0.25, 0.75, 0.5, 0.5, 1.0, 0.0, 0.9, 0.1};
  std::vector<double> grouped(8 * 3, std::nan("")), out(4 * 3, std::nan(""));
  cpu::dispatch_forward(plan.view(), x.data(), 3, grouped.data());
  for (std::size_t r = 0; r < 8; ++r)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(grouped[r * 3 + c] == x[static_cast<std::size_t>(plan.copy_of_row[r] / 2) * 3 + c]);
  cpu::combine_forward(plan.view(), grouped.data(), gates.data(), 3, out.data(), false);
  CHECK(max_rel_error(out, x) < 1e-15);
}

TEST_CASE("dispatch and combine gradients match finite differences, including d gates") {
  const Plan plan(kTopk, 4, 2, 4);
  auto x = random_values(4 * 3, 2);
  auto gates = random_values(8, 3, 0.1, 1.0);
  const auto weights = random_values(4 * 3, 4);
  // Between dispatch and combine, each grouped row r is scaled by (r + 1), standing in for the experts.
  auto expert = [](std::vector<double> rows) {
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] *= static_cast<double>(i / 3 + 1);
    return rows;
  };
  auto loss = [&] {
    std::vector<double> grouped(8 * 3), out(4 * 3);
    cpu::dispatch_forward(plan.view(), x.data(), 3, grouped.data());
    const auto expert_out = expert(grouped);
    cpu::combine_forward(plan.view(), expert_out.data(), gates.data(), 3, out.data(), false);
    return dot(out, weights);
  };
  std::vector<double> grouped(8 * 3), dexpert_out(8 * 3), dgates(8), dx(4 * 3, 9.0);
  cpu::dispatch_forward(plan.view(), x.data(), 3, grouped.data());
  const auto expert_out = expert(grouped);
  cpu::combine_backward(plan.view(), weights.data(), expert_out.data(), gates.data(), 3, dexpert_out.data(),
                        dgates.data());
  cpu::dispatch_backward(plan.view(), expert(dexpert_out).data(), 3, dx.data(), false);
  CHECK(max_rel_error(dgates, numeric_gradient(gates, loss)) < 1e-6);
  CHECK(max_rel_error(dx, numeric_gradient(x, loss)) < 1e-6);
}

TEST_CASE("combine and dispatch_backward with accumulate add each copy, in order, to the output's old value") {
  const Plan plan(kTopk, 4, 2, 4);
  const auto rows = random_values(8 * 3, 5);
  const auto gates = random_values(8, 6, 0.1, 1.0);
  const auto old = random_values(4 * 3, 7);
  std::vector<double> combined = old, summed = old;
  cpu::combine_forward(plan.view(), rows.data(), gates.data(), 3, combined.data(), true);
  cpu::dispatch_backward(plan.view(), rows.data(), 3, summed.data(), true);
  for (std::size_t t = 0; t < 4; ++t)
    for (std::size_t c = 0; c < 3; ++c) {
      double want_combined = old[t * 3 + c], want_summed = old[t * 3 + c];
      for (std::size_t j = 0; j < 2; ++j) {
        const auto row = static_cast<std::size_t>(plan.row_of_copy[t * 2 + j]);
        want_combined += gates[t * 2 + j] * rows[row * 3 + c];
        want_summed += rows[row * 3 + c];
      }
      // A fused multiply-add on either side may round a product less: a few units in the last place of a double.
      CHECK(combined[t * 3 + c] == doctest::Approx(want_combined).epsilon(1e-15));
      CHECK(summed[t * 3 + c] == want_summed);
    }
}

TEST_CASE("dispatch ops: a plan with an empty expert runs end to end without NaN; errors name the plan") {
  std::vector<std::int32_t> topk = {0, 0, 0};  // experts 1 and 2 get nothing
  std::vector<std::int32_t> counts(3), offsets(4), row_of_copy(3), copy_of_row(3);
  ops::RoutePlan plan{make_view(counts.data(), DType::i32, Device::cpu, {3}),
                      make_view(offsets.data(), DType::i32, Device::cpu, {4}),
                      make_view(row_of_copy.data(), DType::i32, Device::cpu, {3, 1}),
                      make_view(copy_of_row.data(), DType::i32, Device::cpu, {3})};
  Tensor ttopk = make_view(topk.data(), DType::i32, Device::cpu, {3, 1});
  ops::route_plan(ttopk, plan);
  CHECK(offsets == std::vector<std::int32_t>{0, 3, 3, 3});
  std::vector<float> x = {1, 2, 3, 4, 5, 6}, grouped(6), out(6), gates(3, 1.0f);
  Tensor tx = make_view(x.data(), DType::f32, Device::cpu, {3, 2});
  Tensor tgrouped = make_view(grouped.data(), DType::f32, Device::cpu, {3, 2});
  ops::dispatch(tx, plan, tgrouped);
  ops::combine(tgrouped, make_view(gates.data(), DType::f32, Device::cpu, {3, 1}), plan,
               make_view(out.data(), DType::f32, Device::cpu, {3, 2}));
  CHECK(out == x);
  topk[1] = 3;
  CHECK(error_message([&] { ops::route_plan(ttopk, plan); }) == "route_plan: expert 3 at position 1 is outside [0, 3)");
  Tensor wide = make_view(grouped.data(), DType::f32, Device::cpu, {2, 3});
  CHECK(contains(error_message([&] { ops::dispatch(tx, plan, wide); }), "dispatch: grouped: dim 0 is 2, expected 3"));
  Tensor short_offsets = make_view(offsets.data(), DType::i32, Device::cpu, {3});
  ops::RoutePlan bad = plan;
  bad.offsets = short_offsets;
  CHECK(contains(error_message([&] { ops::dispatch(tx, bad, tgrouped); }), "dispatch: plan.offsets: dim 0 is 3"));
}
