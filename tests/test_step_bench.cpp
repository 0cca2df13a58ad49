// Tests for the step profile (parts, nesting, attribution) and `diverge bench`'s report.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "engine/config/config.h"
#include "engine/error.h"
#include "engine/step_profile.h"
#include "engine/training/device_peaks.h"
#include "engine/training/step_bench.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

using std::chrono::milliseconds;

double part(const StepPartSeconds& seconds, StepPart p) { return seconds[static_cast<std::size_t>(p)]; }

}  // namespace

TEST_CASE("step profile: the innermost open part owns the time, the rest is other") {
  StepProfile::start(Device::cpu);
  std::this_thread::sleep_for(milliseconds(5));
  {
    const PartScope outer(StepPart::attention);
    std::this_thread::sleep_for(milliseconds(20));
    {
      const PartScope inner(StepPart::expert_gemm);
      std::this_thread::sleep_for(milliseconds(30));
    }
  }
  const StepPartSeconds seconds = StepProfile::stop();
  // Sleeps last at least as long as asked, so only lower bounds hold; the inner part's 30 ms must not reach the
  // outer one, which would then hold at least 50.
  CHECK(part(seconds, StepPart::other) >= 0.005);
  CHECK(part(seconds, StepPart::attention) >= 0.020);
  CHECK(part(seconds, StepPart::expert_gemm) >= 0.030);
  CHECK(part(seconds, StepPart::attention) < part(seconds, StepPart::expert_gemm) + 0.020);
  CHECK(part(seconds, StepPart::optimizer) == 0.0);
  CHECK_FALSE(StepProfile::recording());
}

TEST_CASE("step profile: scopes outside a recording record nothing; misuse is an Error") {
  { const PartScope idle(StepPart::edl); }
  StepProfile::start(Device::cpu);
  CHECK_THROWS_AS(StepProfile::start(Device::cpu), Error);
  {
    const PartScope open(StepPart::edl);
    CHECK_THROWS_AS(StepProfile::stop(), Error);
  }
  const StepPartSeconds seconds = StepProfile::stop();
  CHECK(part(seconds, StepPart::attention) == 0.0);
  CHECK_THROWS_AS(StepProfile::stop(), Error);
}

TEST_CASE("bench: a micro config's step is timed and broken into the parts its ops name") {
  test::ScratchDir dir("step-bench");
  const test::fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", 10);
  const config::Config config = config::Config::load(dir / "micro.json");
  const BenchReport report = bench_step(config, {.warmup = 1, .steps = 2, .peak_tflops = std::nullopt});
  CHECK(report.step_seconds.size() == 2);
  CHECK(report.tokens_per_step == config.data.micro_batch * config.data.seq_len * config.data.grad_accum);
  CHECK(report.tokens_per_second() > 0.0);
  CHECK(report.device.starts_with("CPU, 1 threads"));
  CHECK_FALSE(report.peak_tflops.has_value());
  for (StepPart p : {StepPart::attention, StepPart::expert_gemm, StepPart::dense_gemm, StepPart::router_dispatch,
                     StepPart::edl, StepPart::optimizer, StepPart::other})
    CHECK_MESSAGE(part(report.part_seconds, p) > 0.0, step_part_name(p));
  CHECK(part(report.part_seconds, StepPart::communication) == 0.0);  // one process: no collective runs

  const nlohmann::json json = bench_report_json(report);
  CHECK(json["step_seconds"].size() == 2);
  CHECK(json["part_seconds_per_step"].size() == kStepParts);
  CHECK(json["mfu"].is_null());
  const std::string text = format_bench_report(report);
  CHECK(text.find("tok/s") != std::string::npos);
  CHECK(text.find("expert GEMMs") != std::string::npos);

  const BenchReport with_peak = bench_step(config, {.warmup = 0, .steps = 1, .peak_tflops = 1.0});
  REQUIRE(with_peak.peak_tflops.has_value());
  CHECK(bench_report_json(with_peak)["mfu"].get<double>() > 0.0);
}

TEST_CASE("device peaks: known GPUs have their dense bf16 and memory peaks, the PCIe card its own") {
  CHECK(peak_bf16_tflops("NVIDIA H100 80GB HBM3") == doctest::Approx(989.4));
  CHECK(peak_bf16_tflops("NVIDIA H100 PCIe") == doctest::Approx(756.0));
  CHECK(peak_bf16_tflops("NVIDIA H200") == doctest::Approx(989.4));
  CHECK(peak_bf16_tflops("NVIDIA A100-SXM4-80GB") == doctest::Approx(312.0));
  CHECK_FALSE(peak_bf16_tflops("CUDA emulator (host fibers)").has_value());
  CHECK(peak_memory_gbps("NVIDIA H200") == doctest::Approx(4800.0));
  CHECK(peak_memory_gbps("NVIDIA H100 80GB HBM3") == doctest::Approx(3350.0));
  CHECK_FALSE(peak_memory_gbps("CPU").has_value());
}
