// Tests for the fused cross-entropy ops: row losses against -log softmax, ignored targets, gradient, bad targets.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "kernels/cpu/cross_entropy.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr std::int64_t kRows = 6, kVocab = 9;

double direct_loss(const std::vector<double>& logits, const std::vector<std::int32_t>& targets) {
  double total = 0.0;
  int count = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (targets[i] < 0) continue;
    double sum = 0.0;
    for (std::size_t v = 0; v < kVocab; ++v) sum += std::exp(logits[i * kVocab + v]);
    total += -std::log(std::exp(logits[i * kVocab + static_cast<std::size_t>(targets[i])]) / sum);
    ++count;
  }
  return total / count;
}

double weight_of(const std::vector<std::int32_t>& targets) {
  const auto counted = std::count_if(targets.begin(), targets.end(), [](std::int32_t t) { return t >= 0; });
  return counted == 0 ? 0.0 : 1.0 / static_cast<double>(counted);
}

// The mean loss as the model forms it: row losses, then their sum weighted by 1 / the targets counted.
double loss_of(const std::vector<double>& logits, const std::vector<std::int32_t>& targets) {
  const auto n = static_cast<std::int64_t>(targets.size());
  std::vector<double> lse(targets.size()), rows(targets.size());
  cpu::cross_entropy_forward(logits.data(), targets.data(), n, kVocab, lse.data(), rows.data());
  return cpu::scaled_sum(rows.data(), n, weight_of(targets));
}

}  // namespace

TEST_CASE("cross-entropy is the mean of -log softmax over non-ignored targets") {
  const auto logits = random_values(kRows * kVocab, 1, -3.0, 3.0);
  const std::vector<std::int32_t> targets = {3, -1, 0, 8, -1, 5};
  CHECK(loss_of(logits, targets) == doctest::Approx(direct_loss(logits, targets)).epsilon(1e-13));
}

TEST_CASE("cross-entropy gradient matches finite differences; ignored rows get zeros") {
  auto logits = random_values(kRows * kVocab, 2, -3.0, 3.0);
  const std::vector<std::int32_t> targets = {3, -1, 0, 8, 2, 5};
  std::vector<double> lse(kRows), rows(kRows), dlogits(logits.size(), 7.0);
  cpu::cross_entropy_forward(logits.data(), targets.data(), kRows, kVocab, lse.data(), rows.data());
  cpu::cross_entropy_backward(logits.data(), targets.data(), lse.data(), kRows, kVocab, 1.5 * weight_of(targets),
                              dlogits.data());
  auto numeric = numeric_gradient(logits, [&] { return 1.5 * loss_of(logits, targets); });
  CHECK(max_rel_error(dlogits, numeric) < 1e-6);
  for (std::size_t v = 0; v < kVocab; ++v) CHECK(dlogits[kVocab + v] == 0.0);
}

TEST_CASE("cross-entropy with every target ignored is zero with zero gradient, and huge logits stay finite") {
  std::vector<double> logits = random_values(kRows * kVocab, 3);
  logits[4] = 1e4;
  const std::vector<std::int32_t> ignored(kRows, -1);
  std::vector<double> lse(kRows), rows(kRows, 7.0), dlogits(logits.size(), 7.0);
  cpu::cross_entropy_forward(logits.data(), ignored.data(), kRows, kVocab, lse.data(), rows.data());
  for (double r : rows) CHECK(r == 0.0);
  cpu::cross_entropy_backward(logits.data(), ignored.data(), lse.data(), kRows, kVocab, 1.0, dlogits.data());
  for (double g : dlogits) CHECK(g == 0.0);
  const std::vector<std::int32_t> targets = {4, 0, 0, 0, 0, 0};
  CHECK(std::isfinite(loss_of(logits, targets)));
}

TEST_CASE("cross-entropy ops: row losses summed into a loss slot, in-place gradient and clear target errors") {
  auto logits = to_float(random_values(2 * 3 * 5, 4));
  const auto saved = logits;
  std::vector<std::int32_t> targets = {0, 1, 2, 3, 4, -1};
  std::vector<float> lse(6), rows(6);
  float loss = 0.0f;
  Tensor tlogits = make_view(logits.data(), DType::f32, Device::cpu, {2, 3, 5});
  Tensor ttargets = make_view(targets.data(), DType::i32, Device::cpu, {2, 3});
  Tensor tlse = make_view(lse.data(), DType::f32, Device::cpu, {2, 3});
  Tensor trows = make_view(rows.data(), DType::f32, Device::cpu, {2, 3});
  Tensor tloss = make_view(&loss, DType::f32, Device::cpu, {1});
  ops::cross_entropy(tlogits, ttargets, tlse, trows);
  ops::scaled_sum(trows, 0.2f, tloss);
  const float once = loss;
  ops::scaled_sum(trows, 0.2f, tloss, ops::Write::accumulate);
  CHECK(loss == 2 * once);
  double direct = 0.0;
  for (std::size_t r = 0; r < 5; ++r) direct += static_cast<double>(lse[r] - saved[r * 5 + r]);
  CHECK(once == doctest::Approx(direct / 5).epsilon(1e-6));
  CHECK(rows[5] == 0.0f);
  ops::cross_entropy_backward(tlogits, ttargets, tlse, 0.2f, tlogits);
  double row_sum = 0.0;
  for (std::size_t v = 0; v < 5; ++v) row_sum += static_cast<double>(logits[v]);
  CHECK(row_sum == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(logits[0] == doctest::Approx((std::exp(static_cast<double>(saved[0] - lse[0])) - 1.0) / 5.0).epsilon(1e-5));
  targets[4] = 5;
  CHECK(error_message([&] { ops::cross_entropy(tlogits, ttargets, tlse, trows); }) ==
        "cross_entropy: target 5 at position 4 is outside [0, 5)");
  Tensor flat_lse = make_view(lse.data(), DType::f32, Device::cpu, {6});
  CHECK(contains(error_message([&] { ops::cross_entropy(tlogits, ttargets, flat_lse, trows); }), "cross_entropy: lse:"));
  CHECK(contains(error_message([&] { ops::scaled_sum(trows, 1.0f, trows); }), "scaled_sum: out:"));
}
