// `diverge bench` on CUDA: the step profile's parts come from events on the compute stream.
#include <doctest/doctest.h>

#include "engine/config/config.h"
#include "engine/training/step_bench.h"
#include "kernels/cuda/device_info.h"
#include "tests/cuda_support.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

TEST_CASE("bench on CUDA: the step is timed on the device and every part its ops name shows") {
  if (!test::cuda_available()) return;
  test::ScratchDir dir("cuda-step-bench");
  const test::fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", 10);
  config::Config config = config::Config::load(dir / "micro.json");
  config.train.device = config::Device::kCuda;
  const BenchReport report = bench_step(config, {.warmup = 1, .steps = 1, .peak_tflops = std::nullopt});
  CHECK(report.device == cuda::device_name());
  CHECK(report.step_seconds.size() == 1);
  for (StepPart p : {StepPart::attention, StepPart::expert_gemm, StepPart::dense_gemm, StepPart::router_dispatch,
                     StepPart::edl, StepPart::optimizer, StepPart::other})
    CHECK_MESSAGE(report.part_seconds[static_cast<std::size_t>(p)] > 0.0, step_part_name(p));
  CHECK(report.part_seconds[static_cast<std::size_t>(StepPart::communication)] == 0.0);
}
