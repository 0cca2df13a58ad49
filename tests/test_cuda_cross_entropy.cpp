// Tests of the CUDA cross-entropy against the CPU reference on the same fp32 logits: row losses, their sum,
// logsumexp, gradient, ignored and invalid targets, and the same bits on every run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

namespace {

constexpr double kUnit = 0x1p-24;  // fp32 rounding

std::vector<std::int32_t> random_targets(std::int64_t n, std::int64_t vocab, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::int32_t> targets(static_cast<std::size_t>(n));
  for (auto& t : targets) t = rng() % 5 == 0 ? -1 : static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(vocab));
  return targets;
}

double counted_targets(const std::vector<std::int32_t>& targets) {
  return static_cast<double>(std::count_if(targets.begin(), targets.end(), [](std::int32_t t) { return t != -1; }));
}

float device_value(const Tensor& scalar) { return test::to_host(scalar)[0]; }

}  // namespace

TEST_CASE("cuda cross entropy: loss, logsumexp and gradient match the CPU" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const auto& [n, vocab] : {std::pair<std::int64_t, std::int64_t>{1, 7}, {37, 3001}, {600, 256}}) {
    CAPTURE(n);
    CAPTURE(vocab);
    auto logits = test::normal_values(static_cast<std::size_t>(n * vocab), 21, 3.0f);
    auto targets = random_targets(n, vocab, 22);
    if (n == 1) targets[0] = 3;
    std::vector<float> lse(static_cast<std::size_t>(n)), rows(lse), dlogits(logits.size());
    float loss = 0.0f;
    const auto weight = static_cast<float>(1.0 / counted_targets(targets));
    const float scale = 0.7f * weight;
    const Tensor cpu_targets = make_view(targets.data(), DType::i32, Device::cpu, {n});
    ops::cross_entropy(test::host_tensor(logits, {n, vocab}), cpu_targets, test::host_tensor(lse, {n}),
                       test::host_tensor(rows, {n}));
    ops::scaled_sum(test::host_tensor(rows, {n}), weight, make_view(&loss, DType::f32, Device::cpu, {1}));
    ops::cross_entropy_backward(test::host_tensor(logits, {n, vocab}), cpu_targets, test::host_tensor(lse, {n}), scale,
                                test::host_tensor(dlogits, {n, vocab}));

    Arena arena = test::device_arena(static_cast<std::size_t>(2 * n * vocab + 4 * n + 1) * 4 + 8 * Arena::kAlignment);
    const Tensor d_logits = test::to_device(arena, logits, {n, vocab}), d_targets = test::to_device_i32(arena, targets),
                 d_lse = arena.alloc(DType::f32, {n}), d_rows = arena.alloc(DType::f32, {n}),
                 d_loss = arena.alloc(DType::f32, {1}), d_dlogits = arena.alloc(DType::f32, {n, vocab});
    ops::cross_entropy(d_logits, d_targets, d_lse, d_rows);
    ops::scaled_sum(d_rows, weight, d_loss);
    ops::cross_entropy_backward(d_logits, d_targets, d_lse, scale, d_dlogits);
    const float got_loss = device_value(d_loss);
    const auto got_lse = test::to_host(d_lse), got_dlogits = test::to_host(d_dlogits);

    // The sum of exp(x - max) over the vocabulary is reordered: relative error up to vocab units (and a few for
    // each exp), so lse moves by that much absolutely, plus a few units of its own magnitude for the log and add.
    int outside = 0;
    double lse_error_max = 0.0;
    for (std::size_t r = 0; r < lse.size(); ++r) {
      const double error = (static_cast<double>(vocab) + 4) * kUnit + 4 * kUnit * std::fabs(lse[r]);
      lse_error_max = std::max(lse_error_max, error);
      outside += std::fabs(got_lse[r] - lse[r]) <= error ? 0 : 1;
      // Each gradient is scale * exp(x - lse) (minus scale at the target): relative error of exp's argument error
      // plus a few units for exp and the product.
      for (std::int64_t v = 0; v < vocab; ++v) {
        const std::size_t i = r * static_cast<std::size_t>(vocab) + static_cast<std::size_t>(v);
        const double probability_part = std::fabs(dlogits[i] + (targets[r] == v ? scale : 0.0));
        const double bound = (error + 8 * kUnit) * probability_part + 4 * kUnit * static_cast<double>(scale);
        outside += std::fabs(got_dlogits[i] - dlogits[i]) <= bound ? 0 : 1;
      }
    }
    CHECK(outside == 0);
    // The mean of the rows' losses moves by at most the largest lse error and the target logit's own rounding.
    CHECK(std::fabs(got_loss - loss) <= lse_error_max + 4 * kUnit * std::fabs(loss));
  }
}

TEST_CASE("cuda cross entropy: all targets ignored gives 0 and zero gradients; an invalid target gives NaN" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t n = 3, vocab = 5;
  Arena arena = test::device_arena(4096);
  const Tensor logits = test::to_device(arena, test::normal_values(15, 1, 1.0f), {n, vocab}),
               lse = arena.alloc(DType::f32, {n}), rows = arena.alloc(DType::f32, {n}),
               loss = arena.alloc(DType::f32, {1}), dlogits = arena.alloc(DType::f32, {n, vocab});
  const Tensor ignored = test::to_device_i32(arena, {-1, -1, -1});
  ops::cross_entropy(logits, ignored, lse, rows);
  CHECK(test::to_host(rows) == std::vector<float>(3, 0.0f));
  ops::cross_entropy_backward(logits, ignored, lse, 1.0f, dlogits);
  CHECK(test::to_host(dlogits) == std::vector<float>(15, 0.0f));
  const Tensor invalid = test::to_device_i32(arena, {1, 5, -1});
  ops::cross_entropy(logits, invalid, lse, rows);
  ops::scaled_sum(rows, 0.5f, loss);
  CHECK(std::isnan(device_value(loss)));
  ops::cross_entropy_backward(logits, invalid, lse, 1.0f, dlogits);
  const auto grads = test::to_host(dlogits);
  CHECK(std::isnan(grads[5]));
  CHECK(!std::isnan(grads[0]));
}

TEST_CASE("cuda cross entropy: the gradient may overwrite the logits, and every run gives the same bits" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t n = 70, vocab = 999;
  const auto logits = test::normal_values(static_cast<std::size_t>(n * vocab), 5, 2.0f);
  const auto targets = random_targets(n, vocab, 6);
  Arena arena = test::device_arena(static_cast<std::size_t>(2 * n * vocab + 4 * n + 2) * 4 + 8 * Arena::kAlignment);
  const Tensor d_targets = test::to_device_i32(arena, targets), d_lse = arena.alloc(DType::f32, {n}),
               d_rows = arena.alloc(DType::f32, {n}), d_loss = arena.alloc(DType::f32, {1}),
               separate = arena.alloc(DType::f32, {n, vocab}), d_logits = test::to_device(arena, logits, {n, vocab});
  ops::cross_entropy(d_logits, d_targets, d_lse, d_rows);
  ops::scaled_sum(d_rows, 1.0f / 70.0f, d_loss);
  const float first = device_value(d_loss);
  ops::cross_entropy_backward(d_logits, d_targets, d_lse, 1.0f, separate);
  ops::cross_entropy(d_logits, d_targets, d_lse, d_rows);
  ops::scaled_sum(d_rows, 1.0f / 70.0f, d_loss, ops::Write::accumulate);
  CHECK(device_value(d_loss) == first + first);
  ops::cross_entropy_backward(d_logits, d_targets, d_lse, 1.0f, d_logits);
  CHECK(test::to_host(d_logits) == test::to_host(separate));
}
