// Tests for the memory plan a run prints and checks before it allocates: it is what the run's arenas then hold.
#include <doctest/doctest.h>

#include "engine/config/config.h"
#include "engine/training/optimizer_step.h"
#include "engine/training/run_preflight.h"
#include "model/transformer.h"
#include "tests/model_support.h"

using namespace diverge;

TEST_CASE("the memory plan equals the bytes of the model's and the optimizer's arenas, arena by arena") {
  config::Config config;
  config.model = test::tiny_model();
  config.data.micro_batch = 3;
  config.data.seq_len = 6;
  const MemoryPlan plan = plan_memory(config);
  CHECK(plan.device == Device::cpu);

  model::Transformer model(config.model, config.loss, config.data.micro_batch, config.data.seq_len, 7);
  const OptimizerStep optimizer(config.optim, model.layout().block_elements(), model.layout().decay_elements(),
                                model.device());
  // On the CPU the passes read the masters: no working copy beside them.
  CHECK(plan.params == model.params().bytes());
  CHECK(plan.grads == model.grads().bytes());
  CHECK(plan.optimizer == optimizer.arena().capacity());
  CHECK(plan.optimizer == optimizer.arena().used());
  CHECK(plan.activations == model.activation_arena().capacity());
}
