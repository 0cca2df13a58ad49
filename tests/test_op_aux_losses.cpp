// Tests for the auxiliary routing losses: load balance (Switch form) and router z-loss from the sums the router
// takes, values against direct formulas and their gradients (through the router's backward) against finite
// differences; the sums over several chunks of rows.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/load_balance.h"
#include "kernels/cpu/router.h"
#include "kernels/cpu/z_loss.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr std::int64_t kTokens = 6, kExperts = 5;

std::vector<double> softmax(const std::vector<double>& logits) {
  std::vector<double> probs(logits.size());
  for (std::size_t t = 0; t < kTokens; ++t) {
    double sum = 0.0;
    for (std::size_t e = 0; e < kExperts; ++e) sum += std::exp(logits[t * kExperts + e]);
    for (std::size_t e = 0; e < kExperts; ++e) probs[t * kExperts + e] = std::exp(logits[t * kExperts + e]) / sum;
  }
  return probs;
}

// The router's probabilities and sums for logits (tokens, kExperts), in double.
struct Routed {
  std::vector<double> probs, prob_sums, lse;
};

Routed route(const std::vector<double>& logits, std::int64_t tokens = kTokens) {
  const auto n = static_cast<std::size_t>(tokens);
  Routed r{std::vector<double>(logits.size()),
           std::vector<double>(static_cast<std::size_t>(router_sum_chunks(tokens) * kExperts)),
           std::vector<double>(n)};
  std::vector<std::int32_t> topk(n);
  std::vector<double> gates(n);
  cpu::router_forward<double>({tokens, kExperts, 1, false}, logits.data(), r.probs.data(), topk.data(), gates.data(),
                              {r.prob_sums.data(), r.lse.data()});
  return r;
}

double load_balance(const std::vector<double>& logits, const std::vector<std::int32_t>& counts) {
  return cpu::load_balance_loss(route(logits).prob_sums.data(), counts.data(), kTokens, kExperts);
}

}  // namespace

TEST_CASE("load balance loss is 1 when balanced and E * sum f_e P_e in general") {
  const std::vector<double> equal_logits(kTokens * kExperts, 0.7);
  const std::vector<std::int32_t> equal(kExperts, 3);
  CHECK(load_balance(equal_logits, equal) == doctest::Approx(1.0).epsilon(1e-14));
  const auto logits = random_values(kTokens * kExperts, 1, -2.0, 2.0);
  const auto probs = softmax(logits);
  const std::vector<std::int32_t> counts = {4, 0, 1, 5, 2};  // 12 assignments: 6 tokens, top-2
  double want = 0.0;
  for (std::size_t e = 0; e < kExperts; ++e) {
    double mean_prob = 0.0;
    for (std::size_t t = 0; t < kTokens; ++t) mean_prob += probs[t * kExperts + e] / kTokens;
    want += counts[e] / 12.0 * mean_prob;
  }
  CHECK(load_balance(logits, counts) == doctest::Approx(kExperts * want).epsilon(1e-13));
}

TEST_CASE("the router's sums: each chunk of rows' column sums of the probabilities, and each row's logsumexp") {
  // 300 tokens: chunks of 128, 128 and 44 rows.
  constexpr std::int64_t kMany = 300;
  const auto logits = random_values(kMany * kExperts, 4, -3.0, 3.0);
  const Routed r = route(logits, kMany);
  REQUIRE(r.prob_sums.size() == 3 * kExperts);
  for (std::int64_t c = 0; c < 3; ++c)
    for (std::int64_t e = 0; e < kExperts; ++e) {
      double want = 0.0;
      for (std::int64_t t = c * kRouterSumRows; t < std::min(kMany, (c + 1) * kRouterSumRows); ++t)
        want += r.probs[static_cast<std::size_t>(t * kExperts + e)];
      CHECK(r.prob_sums[static_cast<std::size_t>(c * kExperts + e)] == doctest::Approx(want).epsilon(1e-15));
    }
  for (std::size_t t = 0; t < kMany; ++t) {
    double sum = 0.0;
    for (std::size_t e = 0; e < kExperts; ++e) sum += std::exp(logits[t * kExperts + e]);
    CHECK(r.lse[t] == doctest::Approx(std::log(sum)).epsilon(1e-14));
  }
}

// The router's backward with no gate gradient (d gates null) and only the auxiliary terms asked for: the load
// balance when counts, the z-loss (on the router's own lse) when z is nonzero; added to dlogits, which starts at
// `start`.
std::vector<double> aux_gradient(const std::vector<double>& logits, const std::int32_t* counts, double load_balance,
                                 double z, double start) {
  const Routed r = route(logits);
  std::vector<double> dlogits(logits.size(), start);
  cpu::router_backward<double>({kTokens, kExperts, 1, false}, r.probs.data(), nullptr, nullptr, nullptr, nullptr,
                               {counts, load_balance, z != 0.0 ? r.lse.data() : nullptr, z}, dlogits.data(), true);
  return dlogits;
}

TEST_CASE("load balance gradient into logits matches finite differences (counts held fixed) and accumulates") {
  auto logits = random_values(kTokens * kExperts, 2, -2.0, 2.0);
  const std::vector<std::int32_t> counts = {4, 0, 1, 5, 2};
  auto loss = [&] { return 0.3 * load_balance(logits, counts); };
  const auto dlogits = aux_gradient(logits, counts.data(), 0.3, 0.0, 1.0);
  auto numeric = numeric_gradient(logits, loss);
  for (double& g : numeric) g += 1.0;
  CHECK(max_rel_error(dlogits, numeric) < 1e-6);
}

TEST_CASE("router z-loss is the mean squared logsumexp; its gradient matches finite differences") {
  auto logits = random_values(kTokens * kExperts, 3, -3.0, 3.0);
  double want = 0.0;
  for (std::size_t t = 0; t < kTokens; ++t) {
    double sum = 0.0;
    for (std::size_t e = 0; e < kExperts; ++e) sum += std::exp(logits[t * kExperts + e]);
    want += std::log(sum) * std::log(sum) / kTokens;
  }
  CHECK(cpu::router_z_loss(route(logits).lse.data(), kTokens) == doctest::Approx(want).epsilon(1e-13));
  auto loss = [&] { return 2.0 * cpu::router_z_loss(route(logits).lse.data(), kTokens); };
  const auto dlogits = aux_gradient(logits, nullptr, 0.0, 2.0, -0.5);
  auto numeric = numeric_gradient(logits, loss);
  for (double& g : numeric) g -= 0.5;
  CHECK(max_rel_error(dlogits, numeric) < 1e-6);
}

TEST_CASE("auxiliary loss ops check counts, sums and shapes") {
  std::vector<float> logits(kTokens * kExperts, 0.2f), probs(logits.size()), dlogits(probs.size());
  std::vector<float> prob_sums(kExperts), lse(kTokens), gates(kTokens);
  std::vector<std::int32_t> counts(kExperts, 0), topk(kTokens);
  Tensor tprobs = make_view(probs.data(), DType::f32, Device::cpu, {kTokens, kExperts});
  const ops::RouterSums sums{make_view(prob_sums.data(), DType::f32, Device::cpu, {1, kExperts}),
                             make_view(lse.data(), DType::f32, Device::cpu, {kTokens})};
  const auto route_with = [&](const ops::RouterSums& with) {
    ops::router(make_view(logits.data(), DType::f32, Device::cpu, {kTokens, kExperts}), tprobs,
                make_view(topk.data(), DType::i32, Device::cpu, {kTokens, 1}),
                make_view(gates.data(), DType::f32, Device::cpu, {kTokens, 1}), false, with);
  };
  route_with(sums);
  const ops::RouterSums two_chunks{make_view(prob_sums.data(), DType::f32, Device::cpu, {2, 2}), sums.lse};
  CHECK(contains(error_message([&] { route_with(two_chunks); }),
                 "router: sums.prob_sums: dim 0 is 2, expected 1 (the chunks of 128 of the N tokens)"));
  Tensor tcounts = make_view(counts.data(), DType::i32, Device::cpu, {kExperts});
  float loss = 7.0f;
  Tensor tloss = make_view(&loss, DType::f32, Device::cpu, {1});
  CHECK(contains(error_message([&] { ops::load_balance_loss(sums, tcounts, tloss); }), "expert counts are all zero"));
  Tensor short_counts = make_view(counts.data(), DType::i32, Device::cpu, {kExperts - 1});
  CHECK(contains(error_message([&] { ops::load_balance_loss(sums, short_counts, tloss); }),
                 "load_balance_loss: counts: dim 0 is 4, expected 5 (E, the experts of sums.prob_sums)"));
  CHECK(contains(error_message([&] { ops::router_z_loss(sums.lse, short_counts); }), "router_z_loss: loss:"));
  counts = {1, 1, 1, 1, 1};
  ops::load_balance_loss(sums, tcounts, tloss);
  CHECK(loss == doctest::Approx(1.0f));
  ops::load_balance_loss(sums, tcounts, tloss, ops::Write::accumulate);
  CHECK(loss == doctest::Approx(2.0f));
  ops::router_z_loss(sums.lse, tloss);
  CHECK(loss == doctest::Approx(std::pow(std::log(5.0) + 0.2, 2)).epsilon(1e-5));
  // Their gradients in the router's backward: counts and lse must fit probs, and counts must count something.
  Tensor tdlogits = make_view(dlogits.data(), DType::f32, Device::cpu, {kTokens, kExperts});
  Tensor ttopk = make_view(topk.data(), DType::i32, Device::cpu, {kTokens, 1});
  Tensor tgates = make_view(gates.data(), DType::f32, Device::cpu, {kTokens, 1});
  const auto backward_with = [&](const ops::RouterAuxGrads& aux) {
    ops::router_backward(tprobs, ttopk, tgates, Tensor{}, Tensor{}, tdlogits, false, ops::Write::overwrite, aux);
  };
  CHECK(contains(error_message([&] { backward_with({short_counts, 1.0f, Tensor{}, 0.0f}); }),
                 "router_backward: aux.counts: dim 0 is 4, expected 5 (E, the experts of probs)"));
  CHECK(contains(error_message([&] { backward_with({Tensor{}, 0.0f, tcounts, 1.0f}); }),
                 "router_backward: aux.lse: expected f32"));
  const Tensor long_lse = make_view(prob_sums.data(), DType::f32, Device::cpu, {kExperts});
  CHECK(contains(error_message([&] { backward_with({Tensor{}, 0.0f, long_lse, 1.0f}); }),
                 "router_backward: aux.lse: dim 0 is 5, expected 6 (N, the tokens)"));
  counts.assign(kExperts, 0);
  CHECK(contains(error_message([&] { backward_with({tcounts, 1.0f, Tensor{}, 0.0f}); }),
                 "router_backward: expert counts are all zero"));
}
