// Tests for the router op: softmax, top-k picks with ties to the lower index, renormalisation, and the backward pass
// (gates, dense probabilities and the auxiliary losses) against finite differences; the forced-balance assignment's
// even counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "kernels/cpu/load_balance.h"
#include "kernels/cpu/router.h"
#include "kernels/cpu/z_loss.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

struct Routed {
  std::vector<double> probs;
  std::vector<std::int32_t> topk;
  std::vector<double> gates;
  std::vector<double> prob_sums, lse;  // the sums the auxiliary losses read
};

Routed route(const cpu::RouterShape& s, const std::vector<double>& logits) {
  const auto copies = static_cast<std::size_t>(s.tokens * s.top_k);
  Routed r{std::vector<double>(logits.size()), std::vector<std::int32_t>(copies), std::vector<double>(copies),
           std::vector<double>(static_cast<std::size_t>(router_sum_chunks(s.tokens) * s.experts)),
           std::vector<double>(static_cast<std::size_t>(s.tokens))};
  cpu::router_forward(s, logits.data(), r.probs.data(), r.topk.data(), r.gates.data(),
                      {r.prob_sums.data(), r.lse.data()});
  return r;
}

}  // namespace

TEST_CASE("router picks the most probable experts in order, ties to the lower index") {
  const cpu::RouterShape s{2, 5, 3, false};
  const std::vector<double> logits = {0.5, 2.0, -1.0, 2.0, 1.0,   // experts 1 and 3 tie
                                      0.0, 0.0, 0.0,  0.0, 0.0};  // all tie
  const Routed r = route(s, logits);
  CHECK(r.topk == std::vector<std::int32_t>{1, 3, 4, 0, 1, 2});
  double total = 0.0;
  for (std::size_t e = 0; e < 5; ++e) total += std::exp(logits[e]);
  CHECK(r.probs[1] == doctest::Approx(std::exp(2.0) / total).epsilon(1e-14));
  CHECK(r.gates[0] == r.probs[1]);
  CHECK(r.gates[2] == r.probs[4]);
  CHECK(r.gates[3] == doctest::Approx(0.2).epsilon(1e-14));
}

TEST_CASE("router chooses on the logits: distinct logits whose probabilities round equal pick the larger") {
  // exp(0.3 - next(0.3)) = exp(-3e-8) rounds to 1 in float: both probabilities are 1/2 to the bit, yet expert 1's
  // logit is the larger, and the choice must not depend on how a backend rounds its probabilities.
  std::vector<float> logits = {0.3f, std::nextafter(0.3f, 1.0f)}, probs(2), gates(1);
  std::vector<std::int32_t> topk(1);
  ops::router(make_view(logits.data(), DType::f32, Device::cpu, {1, 2}),
              make_view(probs.data(), DType::f32, Device::cpu, {1, 2}),
              make_view(topk.data(), DType::i32, Device::cpu, {1, 1}),
              make_view(gates.data(), DType::f32, Device::cpu, {1, 1}), false);
  CHECK(probs[0] == probs[1]);
  CHECK(topk[0] == 1);
  CHECK(gates[0] == probs[1]);
}

TEST_CASE("router renormalisation makes each token's gates sum to one, keeping their ratios") {
  const cpu::RouterShape plain{4, 6, 2, false}, renorm{4, 6, 2, true};
  const auto logits = random_values(24, 1, -2.0, 2.0);
  const Routed a = route(plain, logits), b = route(renorm, logits);
  CHECK(a.topk == b.topk);
  for (std::size_t t = 0; t < 4; ++t) {
    CHECK(b.gates[2 * t] + b.gates[2 * t + 1] == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(b.gates[2 * t] / b.gates[2 * t + 1] == doctest::Approx(a.gates[2 * t] / a.gates[2 * t + 1]).epsilon(1e-12));
  }
}

TEST_CASE("router backward matches finite differences from gates, dense probabilities and the auxiliary losses") {
  for (bool renormalize : {false, true}) {
    for (bool with_aux : {false, true}) {
      CAPTURE(renormalize);
      CAPTURE(with_aux);
      const cpu::RouterShape s{5, 6, 2, renormalize};
      auto logits = random_values(30, 2, -2.0, 2.0);
      const auto gate_weights = random_values(10, 3);
      const auto prob_weights = random_values(30, 4);
      const std::vector<std::int32_t> counts = {3, 0, 2, 1, 4, 0};  // held fixed, as the loss's f carries no gradient
      const double balance_weight = with_aux ? 0.3 : 0.0, z_weight = with_aux ? 0.7 : 0.0;
      // Top-k choice is piecewise constant; the random logits keep every choice away from a tie.
      auto loss = [&] {
        const Routed r = route(s, logits);
        return dot(r.gates, gate_weights) + dot(r.probs, prob_weights) +
               balance_weight * cpu::load_balance_loss(r.prob_sums.data(), counts.data(), s.tokens, s.experts) +
               z_weight * cpu::router_z_loss(r.lse.data(), s.tokens);
      };
      const Routed r = route(s, logits);
      std::vector<double> dlogits(30, 0.5);
      const RouterAuxGradPtrs<double> aux =
          with_aux ? RouterAuxGradPtrs<double>{counts.data(), balance_weight, r.lse.data(), z_weight}
                   : RouterAuxGradPtrs<double>{};
      cpu::router_backward(s, r.probs.data(), r.topk.data(), r.gates.data(), gate_weights.data(), prob_weights.data(),
                           aux, dlogits.data(), true);
      auto numeric = numeric_gradient(logits, loss);
      for (double& g : numeric) g += 0.5;
      CHECK(max_rel_error(dlogits, numeric) < 1e-6);
    }
  }
}

TEST_CASE("router op checks k against the expert count and expert indices in the backward pass") {
  std::vector<float> logits(4 * 3, 0.0f), probs(12), gates(4 * 4), dlogits(12);
  std::vector<std::int32_t> topk(4 * 4);
  Tensor tlogits = make_view(logits.data(), DType::f32, Device::cpu, {4, 3});
  Tensor tprobs = make_view(probs.data(), DType::f32, Device::cpu, {4, 3});
  Tensor tdlogits = make_view(dlogits.data(), DType::f32, Device::cpu, {4, 3});
  CHECK(contains(error_message([&] {
                   ops::router(tlogits, tprobs, make_view(topk.data(), DType::i32, Device::cpu, {4, 4}),
                               make_view(gates.data(), DType::f32, Device::cpu, {4, 4}), false);
                 }),
                 "router: top-k 4 must be between 1 and the 3 experts"));
  Tensor ttopk = make_view(topk.data(), DType::i32, Device::cpu, {4, 2});
  Tensor tgates = make_view(gates.data(), DType::f32, Device::cpu, {4, 2});
  ops::router(tlogits, tprobs, ttopk, tgates, true);
  CHECK(topk[0] == 0);
  CHECK(topk[1] == 1);
  CHECK(gates[0] == doctest::Approx(0.5f));
  topk[3] = 7;
  CHECK(error_message([&] {
          ops::router_backward(tprobs, ttopk, tgates, tgates, Tensor{}, tdlogits, true, ops::Write::overwrite);
        }) == "router_backward: expert 7 at position 3 is outside [0, 3)");
}

namespace {

// Forced balance over N tokens of k copies among E experts: every expert's rows, counted by the route plan.
std::vector<std::int32_t> balanced_counts(std::int64_t tokens, std::int64_t experts, std::int64_t top_k,
                                          std::vector<std::int32_t>& topk, std::vector<float>& gates) {
  topk.assign(static_cast<std::size_t>(tokens * top_k), -1);
  gates.assign(topk.size(), -1.0f);
  const Tensor ttopk = make_view(topk.data(), DType::i32, Device::cpu, {tokens, top_k});
  ops::balanced_routing(experts, ttopk, make_view(gates.data(), DType::f32, Device::cpu, {tokens, top_k}));
  std::vector<std::int32_t> counts(static_cast<std::size_t>(experts)), offsets(counts.size() + 1),
      row_of_copy(topk.size()), copy_of_row(topk.size());
  ops::route_plan(ttopk, {make_view(counts.data(), DType::i32, Device::cpu, {experts}),
                          make_view(offsets.data(), DType::i32, Device::cpu, {experts + 1}),
                          make_view(row_of_copy.data(), DType::i32, Device::cpu, {tokens, top_k}),
                          make_view(copy_of_row.data(), DType::i32, Device::cpu, {tokens * top_k})});
  return counts;
}

}  // namespace

TEST_CASE("balanced routing: every expert gets exactly N * k / E rows, a token's experts distinct, gates 1 / k") {
  std::vector<std::int32_t> topk;
  std::vector<float> gates;
  // 96 tokens x top-2 over 8 experts: 24 rows each; top-8 of 8: every token to every expert.
  for (const auto& [tokens, experts, top_k] : {std::tuple{96, 8, 2}, std::tuple{12, 8, 8}, std::tuple{30, 6, 1}}) {
    CAPTURE(tokens);
    CAPTURE(top_k);
    const auto counts = balanced_counts(tokens, experts, top_k, topk, gates);
    CHECK(counts == std::vector<std::int32_t>(static_cast<std::size_t>(experts), tokens * top_k / experts));
    for (std::int64_t t = 0; t < tokens; ++t) {
      std::vector<std::int32_t> chosen(topk.begin() + t * top_k, topk.begin() + (t + 1) * top_k);
      std::sort(chosen.begin(), chosen.end());
      CHECK(std::adjacent_find(chosen.begin(), chosen.end()) == chosen.end());
    }
    CHECK(gates == std::vector<float>(gates.size(), 1.0f / static_cast<float>(top_k)));
  }
  // 7 tokens x top-2 over 4 experts: 14 rows, the first two experts one more.
  CHECK(balanced_counts(7, 4, 2, topk, gates) == std::vector<std::int32_t>{4, 4, 3, 3});
  CHECK(topk == std::vector<std::int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  CHECK(contains(error_message([&] { balanced_counts(2, 3, 4, topk, gates); }),
                 "balanced_routing: top-k 4 must be between 1 and the 3 experts"));
}
