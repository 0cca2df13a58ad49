// Tests for the optimizer step: the mean over micro-batches, clipping, weight decay per slice, zeroed or discarded
// gradients, the arena its moments live in.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "engine/comm/comm.h"
#include "engine/training/optimizer_step.h"

using namespace diverge;

namespace {

Tensor view(std::vector<float>& values) {
  return make_view(values.data(), DType::f32, Device::cpu, {static_cast<std::int64_t>(values.size())});
}

config::OptimConfig plain_optim() {
  config::OptimConfig optim;
  optim.weight_decay = 0.0;
  optim.grad_clip = 0.0;
  return optim;
}

// reduce_gradients then update, as the trainer does for a finite step; returns the norm before clipping.
double step_once(OptimizerStep& optimizer, Comm& comm, std::vector<float>& params, std::vector<float>& grads,
                 std::int64_t micro_batches, double lr) {
  const ReducedGradients reduced = OptimizerStep::reduce_gradients(comm, view(grads), micro_batches);
  optimizer.update(view(params), view(grads), reduced, lr, 1);
  return reduced.norm;
}

}  // namespace

TEST_CASE("optimizer step: summed micro-batch gradients update like their mean, and come back zeroed") {
  auto comm = make_single_process_comm();
  std::vector<float> params_a{1.0f, -2.0f, 0.5f, 3.0f}, params_b = params_a;
  std::vector<float> summed{0.4f, -0.2f, 1.0f, 0.6f}, mean{0.2f, -0.1f, 0.5f, 0.3f};
  OptimizerStep a(plain_optim(), 4, 4, Device::cpu), b(plain_optim(), 4, 4, Device::cpu);
  double norm_a = step_once(a, *comm, params_a, summed, 2, 1e-2);
  double norm_b = step_once(b, *comm, params_b, mean, 1, 1e-2);
  CHECK(norm_a == doctest::Approx(std::sqrt(0.04 + 0.01 + 0.25 + 0.09)));
  CHECK(norm_a == doctest::Approx(norm_b));
  for (int i = 0; i < 4; ++i) CHECK(params_a[i] == doctest::Approx(params_b[i]).epsilon(1e-6));
  CHECK(summed == std::vector<float>(4, 0.0f));
  // Adam's first step moves every parameter by about lr against its gradient's sign.
  CHECK(params_b[0] == doctest::Approx(1.0f - 1e-2f).epsilon(1e-4));
  CHECK(params_b[1] == doctest::Approx(-2.0f + 1e-2f).epsilon(1e-4));
}

TEST_CASE("optimizer step: clipping scales the mean gradient to grad_clip; the norm reported is before clipping") {
  auto comm = make_single_process_comm();
  auto optim = plain_optim();
  optim.grad_clip = 1.0;
  std::vector<float> params(2, 0.0f), grads{3.0f, 4.0f};
  OptimizerStep step(optim, 2, 2, Device::cpu);
  CHECK(step_once(step, *comm, params, grads, 1, 1e-3) == doctest::Approx(5.0));
  // The first moment after one step is (1 - beta1) * the clipped gradient (0.6, 0.8).
  CHECK(step.exp_avg().f32()[0] == doctest::Approx(0.1 * 0.6));
  CHECK(step.exp_avg().f32()[1] == doctest::Approx(0.1 * 0.8));
}

TEST_CASE("optimizer step: weight decay reaches the decayed slice only, unless no_decay is off") {
  auto comm = make_single_process_comm();
  auto optim = plain_optim();
  optim.weight_decay = 0.5;
  std::vector<float> params{1.0f, 1.0f}, grads{0.0f, 0.0f};
  OptimizerStep step(optim, 2, 1, Device::cpu);
  step_once(step, *comm, params, grads, 1, 0.1);
  CHECK(params[0] == doctest::Approx(1.0f - 0.1f * 0.5f));
  CHECK(params[1] == 1.0f);

  optim.no_decay = false;
  std::vector<float> all{1.0f, 1.0f};
  OptimizerStep decay_all(optim, 2, 1, Device::cpu);
  step_once(decay_all, *comm, all, grads, 1, 0.1);
  CHECK(all[1] == doctest::Approx(1.0f - 0.1f * 0.5f));
}

TEST_CASE("optimizer step: discard zeroes the gradients and leaves parameters and moments as they were") {
  auto comm = make_single_process_comm();
  std::vector<float> params{1.0f, -2.0f}, grads{0.5f, 0.25f};
  OptimizerStep step(plain_optim(), 2, 2, Device::cpu);
  step_once(step, *comm, params, grads, 1, 1e-2);
  const std::vector<float> params_before = params;
  const float m_before = step.exp_avg().f32()[0], v_before = step.exp_avg_sq().f32()[0];
  grads = {std::nanf(""), 3.0f};
  CHECK(std::isnan(OptimizerStep::reduce_gradients(*comm, view(grads), 1).norm));
  OptimizerStep::discard(view(grads));
  CHECK(grads == std::vector<float>(2, 0.0f));
  CHECK(params == params_before);
  CHECK(step.exp_avg().f32()[0] == m_before);
  CHECK(step.exp_avg_sq().f32()[0] == v_before);
}

TEST_CASE("optimizer step: its arena holds exactly the two zeroed moments optimizer_bytes plans") {
  // 1000 floats end off the 256-byte grid: the second moment starts at the next multiple, 4096.
  const std::size_t planned = optimizer_bytes(1000, Device::cpu);
  CHECK(planned == 4096 + 4000);
  const OptimizerStep step(plain_optim(), 1000, 1000, Device::cpu);
  CHECK(step.arena().capacity() == planned);
  CHECK(step.arena().used() == planned);
  CHECK(step.exp_avg().describe() == "f32 cpu (1000)");
  std::int64_t nonzero = 0;
  for (std::int64_t i = 0; i < 1000; ++i)
    nonzero += (step.exp_avg().f32()[i] != 0.0f ? 1 : 0) + (step.exp_avg_sq().f32()[i] != 0.0f ? 1 : 0);
  CHECK(nonzero == 0);
}

TEST_CASE("optimizer step: ZeRO-1 keeps a rank's aligned slice of each region and the few elements past the last") {
  // Without sharding every rank keeps every moment.
  CHECK(moment_elements(10000, {}) == 10000);
  // 10000 replicated elements over 4 ranks: slices of 39 * 64 = 2496 (multiples of 64), and the 16 past 4 of them
  // kept whole by every rank.
  CHECK(moment_elements(10000, {.replicas = 4}) == 2496 + 16);
  // Experts [0, 4096) over their 2 holders (2048 each), the 5904 others over 4 ranks (1472 each, 16 left).
  CHECK(moment_elements(10000, {.expert_holders = 2, .replicas = 4, .sharded_elements = 4096}) == 2048 + 1472 + 16);
  // A region too small to split is kept whole: 100 elements over 4 ranks.
  CHECK(moment_elements(100, {.replicas = 4}) == 100);
}
