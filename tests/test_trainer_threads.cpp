// Tests that training does not depend on the thread count: 1, 2 and 3 threads log the same records and end on the
// same weights, and a run resumed on another thread count continues on the same numbers.
#include <doctest/doctest.h>

#include "engine/config/config.h"
#include "engine/training/trainer.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

constexpr std::int64_t kSteps = 8;

// The micro config on `threads` threads, widened so that its matrix products are large enough to be split over
// threads (256 tokens, width 64) and with EDL on, so that its domain sums and the routing metrics run too.
config::Config config_on_threads(const test::ScratchDir& dir, const fs::path& corpus, const std::string& run,
                                 std::int64_t threads) {
  auto file = dir / (run + ".json");
  test::write_micro_config(file, corpus, dir / run, kSteps);
  auto config = config::Config::load(file);
  config.model.d_model = 64;
  config.model.expert_hidden = 64;
  config.data.micro_batch = 8;
  config.edl.beta = 0.05;
  config.train.threads = threads;
  return config;
}

}  // namespace

TEST_CASE("trainer threads: 1, 2 and 3 threads log bit-identical records and end on bit-identical weights") {
  test::ScratchDir dir("trainer-threads");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto one = train(config_on_threads(dir, corpus, "threads-1", 1));
  const auto records = test::deterministic_records(one.metrics);
  const auto weights = test::final_model_hash(dir / "threads-1");
  for (std::int64_t threads : {2, 3}) {
    CAPTURE(threads);
    const std::string run = "threads-" + std::to_string(threads);
    auto summary = train(config_on_threads(dir, corpus, run, threads));
    CHECK(test::deterministic_records(summary.metrics) == records);
    CHECK(test::final_model_hash(dir / run) == weights);
  }
}

TEST_CASE("trainer threads: a run stopped on 3 threads and resumed on 1 logs what an uninterrupted 2-thread run logs") {
  test::ScratchDir dir("trainer-threads-resume");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto whole = train(config_on_threads(dir, corpus, "whole", 2));
  auto config = config_on_threads(dir, corpus, "split", 3);
  CHECK(train(config, {.stop_after = 5}).step == 5);
  config.train.threads = 1;
  config.train.resume = "auto";
  auto resumed = train(config);
  CHECK(resumed.step == kSteps);
  CHECK(test::deterministic_records(resumed.metrics) == test::deterministic_records(whole.metrics));
  CHECK(test::final_model_hash(dir / "split") == test::final_model_hash(dir / "whole"));
}
