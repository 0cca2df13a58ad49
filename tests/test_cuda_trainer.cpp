// Training with train.device=cuda: the CPU run's loss curve, identical reruns, and checkpoints that move between them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/json/json_reader.h"
#include "engine/training/optimizer_step.h"
#include "engine/training/run_preflight.h"
#include "engine/training/trainer.h"
#include "model/transformer.h"
#include "tests/cuda_support.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

constexpr std::int64_t kSteps = 20;
// test_cuda_model.cpp derives it: bf16 roundings on a pass put the GPU's losses within 1% of the CPU's.
constexpr double kLossTolerance = 0.01;

config::Config micro_config(const test::ScratchDir& dir, const fs::path& corpus, const std::string& run,
                            config::Device device) {
  auto file = dir / (run + ".json");
  test::write_micro_config(file, corpus, dir / run, kSteps + 4);
  config::Config config = config::Config::load(file);
  config.train.device = device;
  return config;
}

std::vector<nlohmann::json> train_records(const fs::path& metrics) {
  std::vector<nlohmann::json> out;
  for (const auto& record : test::deterministic_records(metrics))
    if (record["type"] == "train") out.push_back(record);
  return out;
}

void check_curves_agree(const std::vector<nlohmann::json>& gpu, const std::vector<nlohmann::json>& cpu) {
  REQUIRE(gpu.size() == cpu.size());
  for (std::size_t i = 0; i < cpu.size(); ++i) {
    CAPTURE(i);
    for (const char* term : {"loss", "lm"}) {
      CAPTURE(term);
      const double c = cpu[i][term], g = gpu[i][term];
      CHECK(std::abs(g - c) <= kLossTolerance * std::abs(c));
    }
  }
}

}  // namespace

TEST_CASE("train.device=cuda tracks the CPU's loss curve, reruns bit-identically, and swaps checkpoints with the CPU") {
  if (!test::cuda_available()) return;
  test::ScratchDir dir("cuda-trainer");
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  // Both runs plan kSteps + 4 steps and stop at kSteps, so that every continuation below follows one schedule.
  const TrainOptions first_part{.stop_after = kSteps};
  const TrainSummary cpu = train(micro_config(dir, corpus, "cpu", config::Device::kCpu), first_part);
  const TrainSummary gpu = train(micro_config(dir, corpus, "gpu", config::Device::kCuda), first_part);
  REQUIRE(gpu.step == kSteps);
  REQUIRE(cpu.checkpoint.has_value());
  REQUIRE(gpu.checkpoint.has_value());
  const std::vector<nlohmann::json> cpu_curve = train_records(cpu.metrics);
  check_curves_agree(train_records(gpu.metrics), cpu_curve);
  CHECK(cpu_curve.back()["lm"].get<double>() < cpu_curve.front()["lm"].get<double>() - 0.3);

  // Same seed, same GPU: the same bits, although the emulator shuffles the order its threads run in (8 steps: the
  // emulator is slow, and a difference shows in the first step's gradient norm already).
  const TrainSummary again = train(micro_config(dir, corpus, "gpu-again", config::Device::kCuda), {.stop_after = 8});
  const std::vector<nlohmann::json> gpu_records = test::deterministic_records(gpu.metrics);
  const std::vector<nlohmann::json> again_records = test::deterministic_records(again.metrics);
  REQUIRE(again_records.size() >= 8);
  CHECK(std::equal(again_records.begin(), again_records.end(), gpu_records.begin()));

  // Checkpoints hold f32 tensors under the same names on both devices: each continues on the other.
  config::Config gpu_on_cpu = micro_config(dir, corpus, "gpu-then-cpu", config::Device::kCpu);
  gpu_on_cpu.train.resume = gpu.checkpoint->string();
  config::Config cpu_on_gpu = micro_config(dir, corpus, "cpu-then-gpu", config::Device::kCuda);
  cpu_on_gpu.train.resume = cpu.checkpoint->string();
  const TrainSummary gpu_then_cpu = train(gpu_on_cpu);
  const TrainSummary cpu_then_gpu = train(cpu_on_gpu);
  config::Config cpu_rest = micro_config(dir, corpus, "cpu", config::Device::kCpu);
  cpu_rest.train.resume = "auto";
  const TrainSummary cpu_whole = train(cpu_rest);
  CHECK(gpu_then_cpu.step == kSteps + 4);
  CHECK(cpu_then_gpu.step == kSteps + 4);
  const std::vector<nlohmann::json> whole = train_records(cpu_whole.metrics);
  const std::vector<nlohmann::json> tail(whole.begin() + kSteps, whole.end());
  check_curves_agree(train_records(gpu_then_cpu.metrics), tail);
  check_curves_agree(train_records(cpu_then_gpu.metrics), tail);
}

TEST_CASE("train.device=cuda with parallel.zero=1 keeps the masters with the optimizer, as planned, and trains bit for "
          "bit as with them in the model, resumed too") {
  if (!test::cuda_available()) return;
  test::ScratchDir dir("cuda-trainer-zero");
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  const config::Config in_model = micro_config(dir, corpus, "zero0", config::Device::kCuda);
  config::Config with_optimizer = micro_config(dir, corpus, "zero1", config::Device::kCuda);
  with_optimizer.parallel.zero = 1;

  // The plan is the arenas: the model keeps only its bf16 working copy, the optimizer the f32 masters beside the
  // moments (the vocabulary resolved as the run resolves it from the corpus).
  config::Config planned = with_optimizer;
  planned.model.vocab_size = 64;
  const MemoryPlan plan = plan_memory(planned);
  const model::Transformer model(planned.model, planned.loss, planned.data.micro_batch, planned.data.seq_len, 7,
                                 Device::cuda, 0, {}, model::Masters::with_optimizer);
  const OptimizerStep optimizer(planned.optim, model.layout().block_elements(), model.layout().decay_elements(),
                                Device::cuda, {.masters = true});
  CHECK(model.params().empty());
  CHECK(plan.params == model.working().bytes());
  CHECK(plan.optimizer == optimizer.arena().capacity());
  planned.parallel.zero = 0;
  CHECK(plan_memory(planned).params > plan.params);

  // The update, the rounding into the working copy and the checkpoint's gathering move the same f32 values, so the
  // two runs are the same bits, through a resume from the sharded run's checkpoint too.
  const TrainSummary whole = train(in_model, {.stop_after = 8});
  const TrainSummary first = train(with_optimizer, {.stop_after = 4});
  REQUIRE(first.checkpoint.has_value());
  config::Config resumed = with_optimizer;
  resumed.train.resume = "auto";
  const TrainSummary sharded = train(resumed, {.stop_after = 8});
  REQUIRE(whole.checkpoint.has_value());
  REQUIRE(sharded.checkpoint.has_value());
  CHECK(test::deterministic_records(sharded.metrics) == test::deterministic_records(whole.metrics));
  CHECK(read_json_file(*sharded.checkpoint / "state.json").at("files") ==
        read_json_file(*whole.checkpoint / "state.json").at("files"));
}
