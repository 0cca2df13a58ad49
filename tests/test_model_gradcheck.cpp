// Gradient check of the whole model: d total loss / d parameter against central finite differences, for a sample of
// elements of every parameter, with the load-balance and z-losses on.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "tests/model_support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr std::int64_t kBatch = 2, kSeq = 5;

// The chosen expert sets of every token of every MoE layer (sorted within a token: the order of two chosen experts
// is not a discontinuity, a different set is).
std::vector<std::int32_t> routing_choices(const model::Transformer& model) {
  std::vector<std::int32_t> all;
  const model::Dims& d = model.dims();
  for (std::int64_t l = d.first_dense; l < d.layers; ++l) {
    const std::int32_t* topk = model.routing(l).topk.i32();
    for (std::int64_t t = 0; t < d.tokens; ++t) {
      std::vector<std::int32_t> row(topk + t * d.top_k, topk + (t + 1) * d.top_k);
      std::sort(row.begin(), row.end());
      all.insert(all.end(), row.begin(), row.end());
    }
  }
  return all;
}

struct CheckResult {
  int skipped = 0;
  bool every_entry_checked = true;  // each parameter got its full sample of checked elements
  double worst_excess = 0.0;        // largest |numeric - analytic| - tolerance; <= 0 means all passed
  std::string worst;
};

// Checks `per_entry` random elements of every parameter entry (up to 8x as many tries when routing changes).
//
// The numeric derivative is the fourth-order central difference (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / (12 h) with
// h = 1e-2: its truncation error is O(h^4), below 1e-7 here, so what remains is the fp32 rounding of each loss
// evaluation, delta ~ 1e-7 absolute for |L| ~ 3, amplified by (16 + 2) / 12 / h = 150: a few 1e-5 (the largest
// seen is 3e-5). Hence a tolerance of 6e-5 absolute plus 1e-3 relative to the analytic value (itself an fp32 sum
// over a few dozen terms, good to ~1e-6 relative); the gradients checked are mostly 1e-3 .. 2e-1, so a wrong term
// would show. An element is skipped only when a perturbed evaluation selects a different top-k set in some MoE
// layer, where the loss is not differentiable; that is detected by comparing the routing, never assumed.
CheckResult check_all(const config::ModelConfig& m, const config::LossConfig& loss, int per_entry, std::uint64_t seed) {
  model::Transformer model(m, loss, kBatch, kSeq, seed);
  TokenBatch batch(kBatch, kSeq, m.vocab_size, seed + 1);
  model.forward(batch.tensor());
  const std::vector<std::int32_t> baseline = routing_choices(model);
  model.backward();
  const std::vector<float> grads = host_copy(model.grads());
  float* params = model.params().f32();

  constexpr double kStep = 1e-2, kAbsTol = 6e-5, kRelTol = 1e-3;
  CheckResult result;
  std::mt19937_64 rng(seed);
  for (const model::ParamEntry& e : model.layout().entries()) {
    int checked = 0;
    for (int attempt = 0; attempt < 8 * per_entry && checked < per_entry; ++attempt) {
      const std::int64_t index = e.offset + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(e.numel));
      const float saved = params[index];
      bool routing_changed = false;
      auto loss_at = [&](double delta) {
        params[index] = static_cast<float>(saved + delta);
        const double value = model.forward(batch.tensor()).losses.total;
        routing_changed = routing_changed || routing_choices(model) != baseline;
        return value;
      };
      const double numeric =
          (8.0 * (loss_at(kStep) - loss_at(-kStep)) - (loss_at(2 * kStep) - loss_at(-2 * kStep))) / (12.0 * kStep);
      params[index] = saved;
      if (routing_changed) {
        ++result.skipped;
        continue;
      }
      ++checked;
      const double analytic = grads[static_cast<std::size_t>(index)];
      const double excess = std::abs(numeric - analytic) - (kAbsTol + kRelTol * std::abs(analytic));
      if (result.worst.empty() || excess > result.worst_excess) {
        result.worst_excess = excess;
        result.worst = e.name + "[" + std::to_string(index - e.offset) + "]: analytic " + std::to_string(analytic) +
                       ", numeric " + std::to_string(numeric);
      }
    }
    result.every_entry_checked = result.every_entry_checked && checked == per_entry;
  }
  return result;
}

}  // namespace

TEST_CASE("model gradients match finite differences: QK-norm, dense first layer, shared expert, untied head") {
  config::ModelConfig m = tiny_model();
  m.init_std = 0.3;  // large enough weights that every gradient is well above the fp32 noise of the loss
  const CheckResult r = check_all(m, tiny_loss(0.1, 0.05), 4, 11);
  INFO("worst: " << r.worst << "; skipped " << r.skipped);
  CHECK(r.worst_excess <= 0.0);
  CHECK(r.every_entry_checked);
}

TEST_CASE("model gradients match finite differences: tied embeddings, no QK-norm, all MoE, no renormalisation") {
  config::ModelConfig m = tiny_model();
  m.init_std = 0.3;
  m.tied_embeddings = true;
  m.qk_norm = false;
  m.first_k_dense = 0;
  m.dense_hidden = 0;
  m.n_shared_experts = 0;
  m.shared_expert_hidden = 0;
  m.renorm_topk = false;
  m.n_layers = 2;
  const CheckResult r = check_all(m, tiny_loss(0.1, 0.05), 4, 12);
  INFO("worst: " << r.worst << "; skipped " << r.skipped);
  CHECK(r.worst_excess <= 0.0);
  CHECK(r.every_entry_checked);
}
