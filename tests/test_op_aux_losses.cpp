// Tests for the auxiliary routing losses: load balance (Switch form) and router z-loss, values against direct
// formulas and gradients into router logits against finite differences.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/cpu/load_balance.h"
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

}  // namespace

TEST_CASE("load balance loss is 1 when balanced and E * sum f_e P_e in general") {
  const std::vector<double> uniform(kTokens * kExperts, 1.0 / kExperts);
  const std::vector<std::int32_t> equal(kExperts, 3);
  CHECK(cpu::load_balance_loss(uniform.data(), equal.data(), kTokens, kExperts) == doctest::Approx(1.0).epsilon(1e-14));
  const auto probs = softmax(random_values(kTokens * kExperts, 1, -2.0, 2.0));
  const std::vector<std::int32_t> counts = {4, 0, 1, 5, 2};  // 12 assignments: 6 tokens, top-2
  double want = 0.0;
  for (std::size_t e = 0; e < kExperts; ++e) {
    double mean_prob = 0.0;
    for (std::size_t t = 0; t < kTokens; ++t) mean_prob += probs[t * kExperts + e] / kTokens;
    want += counts[e] / 12.0 * mean_prob;
  }
  CHECK(cpu::load_balance_loss(probs.data(), counts.data(), kTokens, kExperts) ==
        doctest::Approx(kExperts * want).epsilon(1e-13));
}

TEST_CASE("load balance gradient into logits matches finite differences (counts held fixed) and accumulates") {
  auto logits = random_values(kTokens * kExperts, 2, -2.0, 2.0);
  const std::vector<std::int32_t> counts = {4, 0, 1, 5, 2};
  auto loss = [&] { return 0.3 * cpu::load_balance_loss(softmax(logits).data(), counts.data(), kTokens, kExperts); };
  std::vector<double> dlogits(logits.size(), 1.0);
  cpu::load_balance_loss_backward(softmax(logits).data(), counts.data(), kTokens, kExperts, 0.3, dlogits.data());
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
  CHECK(cpu::router_z_loss(logits.data(), kTokens, kExperts) == doctest::Approx(want).epsilon(1e-13));
  auto loss = [&] { return 2.0 * cpu::router_z_loss(logits.data(), kTokens, kExperts); };
  std::vector<double> dlogits(logits.size(), -0.5);
  cpu::router_z_loss_backward(logits.data(), kTokens, kExperts, 2.0, dlogits.data());
  auto numeric = numeric_gradient(logits, loss);
  for (double& g : numeric) g -= 0.5;
  CHECK(max_rel_error(dlogits, numeric) < 1e-6);
}

TEST_CASE("auxiliary loss ops check counts and shapes") {
  std::vector<float> probs(kTokens * kExperts, 0.2f), dlogits(probs.size());
  std::vector<std::int32_t> counts(kExperts, 0);
  Tensor tprobs = make_view(probs.data(), DType::f32, Device::cpu, {kTokens, kExperts});
  Tensor tcounts = make_view(counts.data(), DType::i32, Device::cpu, {kExperts});
  float loss = 7.0f;
  Tensor tloss = make_view(&loss, DType::f32, Device::cpu, {1});
  CHECK(contains(error_message([&] { ops::load_balance_loss(tprobs, tcounts, tloss); }), "expert counts are all zero"));
  Tensor short_counts = make_view(counts.data(), DType::i32, Device::cpu, {kExperts - 1});
  CHECK(contains(error_message([&] { ops::load_balance_loss(tprobs, short_counts, tloss); }),
                 "load_balance_loss: counts: dim 0 is 4, expected 5 (E, the experts of probs)"));
  CHECK(contains(error_message([&] { ops::router_z_loss(tprobs, short_counts); }), "router_z_loss: loss:"));
  counts = {1, 1, 1, 1, 1};
  ops::load_balance_loss(tprobs, tcounts, tloss);
  CHECK(loss == doctest::Approx(1.0f));
  ops::load_balance_loss(tprobs, tcounts, tloss, ops::Write::accumulate);
  CHECK(loss == doctest::Approx(2.0f));
  ops::router_z_loss(tprobs, tloss);
  CHECK(loss == doctest::Approx(std::pow(std::log(5.0) + 0.2, 2)).epsilon(1e-5));
  Tensor wrong = make_view(dlogits.data(), DType::f32, Device::cpu, {kExperts, kTokens});
  CHECK(contains(error_message([&] { ops::router_z_loss_backward(tprobs, 1.0f, wrong); }),
                 "router_z_loss_backward: dlogits:"));
}
