// Gradient check of the whole model: d total loss / d parameter against central finite differences, for a sample of
// elements of every parameter, with the load-balance and z-losses on.
#include <doctest/doctest.h>

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

struct CheckResult {
  int skipped = 0;
  bool every_entry_checked = true;  // each parameter got its full sample of checked elements
  double worst_excess = 0.0;        // largest |numeric - analytic| - tolerance; <= 0 means all passed
  std::string worst;
};

// Checks `per_entry` random elements of every parameter entry (up to 8x as many tries when routing changes), with
// the step and tolerance of model_support.h. An element is skipped only when a perturbed evaluation selects a
// different top-k set in some MoE layer, where the loss is not differentiable; that is detected by comparing the
// routing, never assumed.
CheckResult check_all(const config::ModelConfig& m, const config::LossConfig& loss, int per_entry, std::uint64_t seed) {
  // A thousand tiny forward passes: one thread avoids a parallel region's wake-up cost in each of their ops.
  const ThreadCount one_thread(1);
  model::Transformer model(m, loss, kBatch, kSeq, seed);
  TokenBatch batch(kBatch, kSeq, m.vocab_size, seed + 1);
  model.forward(batch.tensor());
  model.take_losses();  // each finite-difference evaluation below reads its own pass
  const std::vector<std::int32_t> baseline = routing_choices(model);
  model.backward();
  const std::vector<float> grads = host_copy(model.grads());
  float* params = model.params().f32();

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
        const double value = forward_losses(model, batch.tensor()).total;
        routing_changed = routing_changed || routing_choices(model) != baseline;
        return value;
      };
      const double numeric = central_difference4(loss_at, kFiniteDifferenceStep);
      params[index] = saved;
      if (routing_changed) {
        ++result.skipped;
        continue;
      }
      ++checked;
      const double analytic = grads[static_cast<std::size_t>(index)];
      const double excess = finite_difference_excess(numeric, analytic);
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
