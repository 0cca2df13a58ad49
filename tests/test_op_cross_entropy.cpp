// Tests for the fused cross-entropy op: loss against -log softmax, ignored targets, gradient, bad targets.
#include <doctest/doctest.h>

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

double loss_of(const std::vector<double>& logits, const std::vector<std::int32_t>& targets) {
  std::vector<double> lse(targets.size());
  return cpu::cross_entropy_forward(logits.data(), targets.data(), static_cast<std::int64_t>(targets.size()), kVocab,
                                    lse.data());
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
  std::vector<double> lse(kRows), dlogits(logits.size(), 7.0);
  cpu::cross_entropy_forward(logits.data(), targets.data(), kRows, kVocab, lse.data());
  cpu::cross_entropy_backward(logits.data(), targets.data(), lse.data(), kRows, kVocab, 1.5, dlogits.data());
  auto numeric = numeric_gradient(logits, [&] { return 1.5 * loss_of(logits, targets); });
  CHECK(max_rel_error(dlogits, numeric) < 1e-6);
  for (std::size_t v = 0; v < kVocab; ++v) CHECK(dlogits[kVocab + v] == 0.0);
}

TEST_CASE("cross-entropy with every target ignored is zero with zero gradient, and huge logits stay finite") {
  std::vector<double> logits = random_values(kRows * kVocab, 3);
  logits[4] = 1e4;
  const std::vector<std::int32_t> ignored(kRows, -1);
  std::vector<double> lse(kRows), dlogits(logits.size(), 7.0);
  CHECK(cpu::cross_entropy_forward(logits.data(), ignored.data(), kRows, kVocab, lse.data()) == 0.0);
  cpu::cross_entropy_backward(logits.data(), ignored.data(), lse.data(), kRows, kVocab, 1.0, dlogits.data());
  for (double g : dlogits) CHECK(g == 0.0);
  const std::vector<std::int32_t> targets = {4, 0, 0, 0, 0, 0};
  CHECK(std::isfinite(loss_of(logits, targets)));
}

TEST_CASE("cross-entropy op: in-place gradient and clear target errors") {
  auto logits = to_float(random_values(2 * 3 * 5, 4));
  const auto saved = logits;
  std::vector<std::int32_t> targets = {0, 1, 2, 3, 4, -1};
  std::vector<float> lse(6);
  Tensor tlogits = make_view(logits.data(), DType::f32, Device::cpu, {2, 3, 5});
  Tensor ttargets = make_view(targets.data(), DType::i32, Device::cpu, {2, 3});
  Tensor tlse = make_view(lse.data(), DType::f32, Device::cpu, {2, 3});
  const float loss = ops::cross_entropy(tlogits, ttargets, tlse);
  ops::cross_entropy_backward(tlogits, ttargets, tlse, 1.0f, tlogits);
  double row_sum = 0.0;
  for (std::size_t v = 0; v < 5; ++v) row_sum += static_cast<double>(logits[v]);
  CHECK(row_sum == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(logits[0] == doctest::Approx((std::exp(static_cast<double>(saved[0] - lse[0])) - 1.0) / 5.0).epsilon(1e-5));
  CHECK(loss > 0.0f);
  targets[4] = 5;
  CHECK(error_message([&] { ops::cross_entropy(tlogits, ttargets, tlse); }) ==
        "cross_entropy: target 5 at position 4 is outside [0, 5)");
  Tensor flat_lse = make_view(lse.data(), DType::f32, Device::cpu, {6});
  CHECK(contains(error_message([&] { ops::cross_entropy(tlogits, ttargets, flat_lse); }), "cross_entropy: lse:"));
}
