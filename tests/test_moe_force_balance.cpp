// Forced-balance routing through a MoE layer (the benchmarks' mode, parallel.ep_force_balance): every expert receives
// exactly the same rows, and the layer stays differentiable: its gradients match finite differences (the gates are
// constants, so the router's gradient comes from its auxiliary losses alone).
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/arena.h"
#include "engine/buffers.h"
#include "model/moe_layer.h"
#include "tests/gradcheck.h"
#include "tests/model_support.h"

using namespace diverge;
using namespace diverge::model;

namespace {

// One MoE layer with a shared expert: 4 experts top-2 over N = 12 tokens, 24 rows, 6 an expert.
constexpr std::int64_t kBatch = 2, kSeq = 6;

Dims layer_dims() {
  config::ModelConfig m = test::tiny_model();
  m.n_layers = 1;
  m.first_k_dense = 0;
  return make_dims(m, kBatch, kSeq);
}

// Every value the layer reads, as float vectors the finite differences perturb: input, router, experts, shared.
struct LayerInputs {
  std::vector<float> h, router, gate, up, down, shared_gate, shared_up, shared_down, dout;

  explicit LayerInputs(const Dims& d) {
    const std::int64_t N = d.tokens, C = d.model, E = d.experts, F = d.expert_hidden, Fs = d.shared_hidden;
    std::uint64_t seed = 40;
    const auto values = [&](std::int64_t n, double scale) {
      return test::to_float(test::random_values(static_cast<std::size_t>(n), seed++, -scale, scale));
    };
    h = values(N * C, 1.0);
    router = values(E * C, 0.5);
    gate = values(E * F * C, 0.5);
    up = values(E * F * C, 0.5);
    down = values(E * C * F, 0.5);
    shared_gate = values(Fs * C, 0.5);
    shared_up = values(Fs * C, 0.5);
    shared_down = values(C * Fs, 0.5);
    dout = values(N * C, 1.0);
  }

  std::vector<std::vector<float>*> parameters() {
    return {&router, &gate, &up, &down, &shared_gate, &shared_up, &shared_down};
  }

  MoeWeights weights(const Dims& d) {
    const std::int64_t C = d.model, E = d.experts, F = d.expert_hidden, Fs = d.shared_hidden;
    const auto view = [](std::vector<float>& v, std::initializer_list<std::int64_t> shape) {
      return make_view(v.data(), DType::f32, Device::cpu, shape);
    };
    MoeWeights w;
    w.router = view(router, {E, C});
    w.experts = {view(gate, {E, F, C}), view(up, {E, F, C}), view(down, {E, C, F})};
    w.shared = {view(shared_gate, {Fs, C}), view(shared_up, {Fs, C}), view(shared_down, {C, Fs})};
    return w;
  }
};

constexpr AuxLossGrads kAux{.load_balance = 0.3f, .z = 0.2f};

// The layer under forced balance with its buffers, run forward and backward on the inputs' current values.
class BalancedLayer {
 public:
  explicit BalancedLayer(const Dims& d)
      : d_(d), arena_("moe layer", Device::cpu, planned_bytes(Device::cpu, [&](Buffers& b) { return take(b); })) {
    Buffers buffers(arena_);
    b_ = take(buffers);
  }

  // The total the backward differentiates: <out, dout> + the auxiliary losses at their weights, in double.
  double loss(LayerInputs& in, const Tensor& out) {
    forward(in, out);
    double total = kAux.load_balance * double{b_.losses.f32()[0]} + kAux.z * double{b_.losses.f32()[1]};
    for (std::int64_t i = 0; i < out.numel(); ++i) total += double{out.f32()[i]} * in.dout[static_cast<std::size_t>(i)];
    return total;
  }

  void forward(LayerInputs& in, const Tensor& out) {
    std::fill(out.f32(), out.f32() + out.numel(), 0.0f);
    moe_forward(settings(), in.weights(d_), view(in.h), b_.acts, out,
                {b_.losses.slice_rows(0, 1), b_.losses.slice_rows(1, 2)});
  }

  // Gradients of loss(): of the input into dh, of the parameters into grads (zeroed first).
  void backward(LayerInputs& in, LayerInputs& grads, const Tensor& dh) {
    for (std::vector<float>* g : grads.parameters()) std::fill(g->begin(), g->end(), 0.0f);
    moe_backward(settings(), 0, in.weights(d_), grads.weights(d_), view(in.h), b_.acts, b_.scratch, {}, view(in.dout),
                 dh);
  }

  const MoeActs& acts() const { return b_.acts; }
  const Tensor& out() const { return b_.out; }

 private:
  struct Pass {
    MoeActs acts;
    MoeScratch scratch;
    Tensor out, losses;
  };
  Pass take(Buffers& b) const {
    return {allocate_moe(b, d_), allocate_moe_scratch(b, d_), b.act({d_.tokens, d_.model}), b.f32({2})};
  }
  static MoeSettings settings() { return {.renorm_topk = true, .aux = kAux, .force_balance = true}; }
  Tensor view(std::vector<float>& v) const {
    return make_view(v.data(), DType::f32, Device::cpu, {d_.tokens, d_.model});
  }

  Dims d_;
  Arena arena_;
  Pass b_;
};

}  // namespace

TEST_CASE("forced balance: a MoE layer gives every expert exactly N * k / E rows, whatever the router prefers") {
  const Dims d = layer_dims();
  LayerInputs in(d);
  // A router that sends every token to experts 0 and 1 when it is asked.
  std::fill(in.router.begin(), in.router.end(), 0.0f);
  std::fill(in.router.begin(), in.router.begin() + 2 * d.model, 3.0f);
  BalancedLayer layer(d);
  layer.forward(in, layer.out());
  const Tensor& counts = layer.acts().dispatch.plan.counts;
  CHECK(std::vector<std::int32_t>(counts.i32(), counts.i32() + counts.numel()) ==
        std::vector<std::int32_t>(4, static_cast<std::int32_t>(d.routed_rows() / d.experts)));
  const Tensor& gates = layer.acts().router.gates;
  CHECK(test::host_copy(gates) == std::vector<float>(static_cast<std::size_t>(gates.numel()), 0.5f));
}

TEST_CASE("forced balance: the layer's gradients match finite differences, the router's from its auxiliary losses") {
  const Dims d = layer_dims();
  const test::ThreadCount one_thread(1);
  LayerInputs in(d), grads(d);
  BalancedLayer layer(d);
  std::vector<float> dh(static_cast<std::size_t>(d.tokens * d.model));
  layer.forward(in, layer.out());
  layer.backward(in, grads, make_view(dh.data(), DType::f32, Device::cpu, {d.tokens, d.model}));

  std::vector<float> out(dh.size());
  const Tensor scratch_out = make_view(out.data(), DType::f32, Device::cpu, {d.tokens, d.model});
  std::mt19937_64 rng(7);
  double worst = -1.0;
  std::string where;
  const auto check_elements = [&](const std::string& name, std::vector<float>& values, const std::vector<float>& got) {
    for (int sample = 0; sample < 6; ++sample) {
      const std::size_t i = rng() % values.size();
      const float saved = values[i];
      const double numeric = test::central_difference4(
          [&](double delta) {
            values[i] = static_cast<float>(saved + delta);
            return layer.loss(in, scratch_out);
          },
          test::kFiniteDifferenceStep);
      values[i] = saved;
      const double excess = test::finite_difference_excess(numeric, got[i]);
      if (excess > worst) {
        worst = excess;
        where = name + "[" + std::to_string(i) + "]: analytic " + std::to_string(got[i]) + ", numeric " +
                std::to_string(numeric);
      }
    }
  };
  check_elements("h", in.h, dh);
  const char* names[] = {"router",      "experts.gate", "experts.up", "experts.down",
                         "shared.gate", "shared.up",    "shared.down"};
  const auto params = in.parameters(), param_grads = grads.parameters();
  for (std::size_t p = 0; p < params.size(); ++p) check_elements(names[p], *params[p], *param_grads[p]);
  INFO("worst: " << where);
  CHECK(worst <= 0.0);
}
