// Tests for the transformer: an expert with no tokens, bitwise determinism (also across thread counts), exact
// activation planning, the per-sequence eval pass, the router-logit hook, and the initialisation.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "model/init.h"
#include "model/step_buffers.h"
#include "model/transformer.h"
#include "tests/gradcheck.h"
#include "tests/model_support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

config::ModelConfig test_model() {
  config::ModelConfig m = tiny_model();
  m.init_std = 0.3;
  return m;
}

bool all_finite(const std::vector<float>& values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

// Router rows of one layer such that expert 0 is never chosen with top_k = 2: without a router bias no row can make
// a logit negative for every token (h takes both signs), so row 0 is zero (logit 0) and rows 1, 2 = +-u and
// 3, 4 = +-v put two strictly positive logits above it for every token; row 5 = w is free.
void starve_expert_zero(float* router, std::int64_t experts, std::int64_t dim) {
  REQUIRE(experts == 6);
  const auto u = random_values(static_cast<std::size_t>(dim), 101),
             v = random_values(static_cast<std::size_t>(dim), 102),
             w = random_values(static_cast<std::size_t>(dim), 103);
  for (std::int64_t c = 0; c < dim; ++c) {
    const auto i = static_cast<std::size_t>(c);
    router[0 * dim + c] = 0.0f;
    router[1 * dim + c] = static_cast<float>(5.0 * u[i]);
    router[2 * dim + c] = static_cast<float>(-5.0 * u[i]);
    router[3 * dim + c] = static_cast<float>(5.0 * v[i]);
    router[4 * dim + c] = static_cast<float>(-5.0 * v[i]);
    router[5 * dim + c] = static_cast<float>(w[i]);
  }
}

struct RunOutput {
  model::Losses losses;
  std::vector<float> grads;
};

RunOutput forward_backward(int threads) {
  const ThreadCount thread_count(threads);
  model::Transformer model(test_model(), tiny_loss(0.1, 0.05), 2, 5, 21);
  TokenBatch batch(2, 5, 13, 22);
  RunOutput out{forward_losses(model, batch.tensor()), {}};
  model.backward();
  out.grads = host_copy(model.grads());
  return out;
}

bool same_bits(const model::Losses& a, const model::Losses& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("an expert that receives no token: finite loss, zero gradient for its weights, no NaN") {
  config::ModelConfig m = test_model();
  m.n_experts = 6;
  m.first_k_dense = 0;
  m.dense_hidden = 0;
  m.n_layers = 2;
  model::Transformer model(m, tiny_loss(0.1, 0.05), 2, 5, 31);
  starve_expert_zero(model.param("model.layers.1.mlp.gate.weight").f32(), 6, m.d_model);
  TokenBatch batch(2, 5, m.vocab_size, 32);

  const model::Losses losses = forward_losses(model, batch.tensor());
  const std::vector<std::int32_t> counts = model.expert_counts(1);
  CHECK(counts[0] == 0);
  CHECK(std::accumulate(counts.begin(), counts.end(), 0) == 10 * 2);
  CHECK(std::isfinite(losses.total));
  model.backward();
  const std::vector<float> grads = host_copy(model.grads());
  CHECK(all_finite(grads));
  const std::int64_t per_expert = m.expert_hidden * m.d_model;
  for (const char* stack : {"gate_proj", "up_proj", "down_proj"}) {
    CAPTURE(stack);
    const std::vector<float> g = host_copy(model.grad(std::string("model.layers.1.mlp.experts.") + stack + ".weight"));
    CHECK(std::all_of(g.begin(), g.begin() + per_expert, [](float v) { return v == 0.0f; }));
    CHECK(std::any_of(g.begin() + per_expert, g.end(), [](float v) { return v != 0.0f; }));
  }
  // Its router row still learns: the dense probabilities feed the load-balance and z-losses.
  const std::vector<float> router = host_copy(model.grad("model.layers.1.mlp.gate.weight"));
  CHECK(std::any_of(router.begin(), router.begin() + m.d_model, [](float v) { return v != 0.0f; }));
}

TEST_CASE("forward and backward are bitwise deterministic, also across thread counts") {
  const RunOutput first = forward_backward(1);
  const RunOutput again = forward_backward(1);
  const RunOutput threaded = forward_backward(3);
  CHECK(same_bits(first.losses, again.losses));
  CHECK(first.grads == again.grads);
  CHECK(same_bits(first.losses, threaded.losses));
  CHECK(first.grads == threaded.grads);
}

TEST_CASE("the activation arena holds exactly the planned bytes; larger micro-batches are refused") {
  const config::ModelConfig m = test_model();
  model::Transformer model(m, tiny_loss(0.1, 0.05), 3, 6, 41);
  const std::size_t planned = model::activation_bytes(m, 3, 6, Device::cpu, 0);
  CHECK(model.activation_arena().capacity() == planned);
  CHECK(contains(error_message([&] { model.backward(); }), "needs a forward()"));
  TokenBatch small(2, 4, m.vocab_size, 42);
  model.forward(small.tensor());
  model.backward();
  CHECK(model.activation_arena().peak() < planned);
  TokenBatch full(3, 6, m.vocab_size, 43);
  model.forward(full.tensor());
  model.backward();
  CHECK(model.activation_arena().peak() == planned);
  TokenBatch too_long(3, 7, m.vocab_size, 44);
  CHECK(contains(error_message([&] { model.forward(too_long.tensor()); }), "exceeds the planned 3 x 6"));
  TokenBatch bad(1, 4, m.vocab_size, 45);
  bad.data()[2] = 13;
  CHECK(contains(error_message([&] { model.forward(bad.tensor()); }), "13"));
}

TEST_CASE("eval gives each sequence's mean LM loss and leaves gradients alone") {
  const config::ModelConfig m = test_model();
  model::Transformer model(m, tiny_loss(0.1, 0.05), 2, 5, 51);
  TokenBatch batch(2, 5, m.vocab_size, 52);
  const float lm = forward_losses(model, batch.tensor()).lm;
  model.backward();
  const std::vector<float> grads = host_copy(model.grads());

  const std::vector<float> per_sequence = model.eval_sequence_losses(batch.tensor());
  REQUIRE(per_sequence.size() == 2);
  CHECK((per_sequence[0] + per_sequence[1]) / 2 == doctest::Approx(lm).epsilon(1e-6));
  CHECK(host_copy(model.grads()) == grads);
  CHECK(contains(error_message([&] { model.backward(); }), "needs a forward()"));
  // Sequences do not interact in the LM loss: the second one alone scores the same.
  TokenBatch second(1, 5, m.vocab_size, 0);
  std::copy(batch.data().begin() + 6, batch.data().end(), second.data().begin());
  CHECK(model.eval_sequence_losses(second.tensor())[0] == doctest::Approx(per_sequence[1]).epsilon(1e-5));
}

TEST_CASE("the router hook sees every MoE layer's probabilities and its dlogits reach the weights") {
  // Extra loss Q = sum_l <c_l, logits_l>; the hook adds dQ/dlogits_l = c_l. Checked against finite differences of
  // total + Q for a router weight and an attention weight below it.
  const config::ModelConfig m = test_model();
  model::Transformer model(m, tiny_loss(0.1, 0.05), 2, 5, 61);
  TokenBatch batch(2, 5, m.vocab_size, 62);
  const std::int64_t n = 10 * m.n_experts;
  // Small coefficients keep Q (summed from fp32 logits) as precise as the loss itself.
  const std::vector<float> c1 = to_float(random_values(static_cast<std::size_t>(n), 63, -0.1, 0.1)),
                           c2 = to_float(random_values(static_cast<std::size_t>(n), 64, -0.1, 0.1));
  auto coefficients = [&](std::int64_t layer) -> const std::vector<float>& { return layer == 1 ? c1 : c2; };
  auto extra_loss = [&] {
    double q = 0.0;
    for (std::int64_t l = 1; l <= 2; ++l) {
      const float* logits = model.routing(l).logits.f32();
      for (std::int64_t i = 0; i < n; ++i) q += coefficients(l)[static_cast<std::size_t>(i)] * logits[i];
    }
    return q;
  };

  model.forward(batch.tensor());
  model.take_losses();  // the finite differences below read one pass each
  const std::vector<std::int32_t> baseline = routing_choices(model);
  std::vector<std::int64_t> layers_seen;
  model.backward([&](std::int64_t layer, const Tensor& probs, const Tensor& dlogits) {
    layers_seen.push_back(layer);
    CHECK(probs.data == model.routing(layer).probs.data);
    float* d = dlogits.f32();
    for (std::int64_t i = 0; i < n; ++i) d[i] += coefficients(layer)[static_cast<std::size_t>(i)];
  });
  CHECK(layers_seen == std::vector<std::int64_t>{2, 1});

  for (const std::string name :
       {"model.layers.1.mlp.gate.weight", "model.layers.1.self_attn.q_proj.weight", "model.layers.2.mlp.gate.weight"}) {
    CAPTURE(name);
    const Tensor param = model.param(name);
    const float analytic = model.grad(name).f32()[5];
    float& element = param.f32()[5];
    const float saved = element;
    auto loss_at = [&](double delta) {
      element = static_cast<float>(saved + delta);
      const double total = forward_losses(model, batch.tensor()).total;
      REQUIRE(routing_choices(model) == baseline);
      return total + extra_loss();
    };
    const double numeric = central_difference4(loss_at, kFiniteDifferenceStep);
    element = saved;
    CHECK(finite_difference_excess(numeric, analytic) <= 0.0);
  }
}

TEST_CASE("initialisation: counter-based normals, per-rule scales, independent of thread count") {
  double sum = 0.0, squares = 0.0;
  constexpr int kSamples = 200000;
  for (int i = 0; i < kSamples; ++i) {
    const double x = model::counter_normal(5, 3, static_cast<std::uint64_t>(i));
    sum += x;
    squares += x * x;
  }
  CHECK(std::abs(sum / kSamples) < 0.01);            // standard error 0.0022
  CHECK(std::abs(squares / kSamples - 1.0) < 0.02);  // standard error 0.0032
  CHECK(model::counter_normal(5, 3, 7) != model::counter_normal(5, 4, 7));

  config::ModelConfig m = tiny_model();
  m.d_model = 64;
  m.n_heads = 4;
  m.head_dim = 16;
  m.init_std = 0.5;
  auto init_with = [&](int threads) {
    const ThreadCount thread_count(threads);
    return host_copy(model::Transformer(m, tiny_loss(0, 0), 1, 2, 7).params());
  };
  CHECK(init_with(1) == init_with(3));
  model::Transformer one(m, tiny_loss(0, 0), 1, 2, 7);

  auto sample_std = [&](const char* name) {
    const std::vector<float> w = host_copy(one.param(name));
    double s = 0.0;
    for (float x : w) s += static_cast<double>(x) * x;
    return std::sqrt(s / static_cast<double>(w.size()));
  };
  // 4096 samples each: the sample std is within 3% of the true one with overwhelming probability.
  CHECK(sample_std("model.layers.1.self_attn.q_proj.weight") == doctest::Approx(0.5).epsilon(0.03));
  CHECK(sample_std("model.layers.1.self_attn.o_proj.weight") == doctest::Approx(0.5 / std::sqrt(6.0)).epsilon(0.03));
  const std::vector<float> norm = host_copy(one.param("model.layers.2.self_attn.q_norm.weight"));
  CHECK(std::all_of(norm.begin(), norm.end(), [](float v) { return v == 1.0f; }));
}
