// Tests for the non-finite guard: a diverging run stops naming the step, the quantity and the tensor, never
// checkpoints a NaN, and under train.on_nonfinite=skip drops updates until too many come in a row.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/config/config.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/training/metrics.h"
#include "engine/training/nonfinite_guard.h"
#include "engine/training/trainer.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The micro config with a learning rate that blows the weights up at the first update.
config::Config diverging_config(const test::ScratchDir& dir, const fs::path& corpus, const std::string& run) {
  const fs::path file = dir / (run + ".json");
  test::write_micro_config(file, corpus, dir / run, 12);
  return config::Config::load(file, {"optim.lr=1e30", "optim.warmup_steps=1", "train.checkpoint_every=1",
                                     "train.keep_checkpoints=1"});
}

}  // namespace

TEST_CASE("nonfinite guard: the first NaN or infinite quantity is named in a fixed order") {
  CHECK_FALSE(first_nonfinite_quantity({.total = 1, .lm = 1, .lb = 1, .z = 0, .edl = 2}, 0.5).has_value());
  CHECK(first_nonfinite_quantity({.total = kNan, .lm = 1, .lb = kInf, .z = 0, .edl = 2}, 0.5) ==
        "the lb loss is inf");
  CHECK(first_nonfinite_quantity({.total = 1, .lm = -kInf}, kNan) == "the lm loss is -inf");
  CHECK(first_nonfinite_quantity({.total = kNan}, 0.5) == "the total loss is nan");
  CHECK(first_nonfinite_quantity({}, kInf) == "the gradient norm is inf");
}

TEST_CASE("nonfinite guard: stop stops at once; skip skips until max_consecutive_skips in a row") {
  NonFiniteGuard stop(config::NonFinitePolicy::kStop, 3);
  CHECK(stop.judge(true) == StepVerdict::update);
  CHECK(stop.judge(false) == StepVerdict::stop);

  NonFiniteGuard skip(config::NonFinitePolicy::kSkip, 3);
  CHECK(skip.judge(false) == StepVerdict::skip);
  CHECK(skip.judge(false) == StepVerdict::skip);
  CHECK(skip.judge(true) == StepVerdict::update);  // a finite step ends the streak
  CHECK(skip.streak() == 0);
  CHECK(skip.judge(false) == StepVerdict::skip);
  CHECK(skip.judge(false) == StepVerdict::skip);
  CHECK(skip.judge(false) == StepVerdict::stop);
  CHECK(skip.skipped() == 5);

  NonFiniteGuard resumed(config::NonFinitePolicy::kSkip, 3);
  resumed.restore(4, 2);
  CHECK(resumed.judge(false) == StepVerdict::stop);
  CHECK_THROWS_AS(resumed.restore(1, 2), Error);
}

TEST_CASE("nonfinite guard: a diverging run stops naming the step, the quantity and the tensor, with no NaN saved") {
  test::ScratchDir dir("guard-stop");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  const auto summary = train(diverging_config(dir, corpus, "run"));
  CHECK(summary.reason == StopReason::nonfinite);
  CHECK(summary.step < 12);
  const std::string step = "step " + std::to_string(summary.step + 1) + ": ";
  CHECK_MESSAGE(summary.message.rfind(step, 0) == 0, summary.message);
  CHECK_MESSAGE(summary.message.find(" is nan") != std::string::npos, summary.message);
  CHECK_MESSAGE(summary.message.find("model.") != std::string::npos, summary.message);
  CHECK_MESSAGE(summary.message.find("this state was not saved") != std::string::npos, summary.message);

  // Checkpoints after every step, keeping one: the one left is the last finite state, and it loads.
  const auto checkpoints = list_checkpoints(dir / "run/checkpoints");
  REQUIRE(checkpoints.size() == 1);
  CHECK(checkpoints[0].step == summary.step);
  CHECK(test::checkpoint_is_finite(checkpoints[0].path));
  // The stopping step is logged, its NaN as null, so the curve shows where the run broke.
  const auto records = read_metrics(summary.metrics);
  REQUIRE_FALSE(records.empty());
  CHECK(records.back()["step"] == summary.step + 1);
  CHECK(records.back()["grad_norm"].is_null());
}

TEST_CASE("nonfinite guard: the CLI exits 3 with one line naming the step") {
  test::ScratchDir dir("guard-cli");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  diverging_config(dir, corpus, "run").save_resolved(dir / "diverging.json");
  const auto result = test::run_diverge("train --config " + (dir / "diverging.json").string());
  CHECK(result.exit_code == 3);
  CHECK_MESSAGE(result.output.rfind("stopped: step ", 0) == 0, result.output);
  CHECK(std::count(result.output.begin(), result.output.end(), '\n') == 1);
}

TEST_CASE("nonfinite guard: skip leaves weights and moments untouched and stops after too many in a row") {
  test::ScratchDir dir("guard-skip");
  const auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = diverging_config(dir, corpus, "run");
  config.train.on_nonfinite = config::NonFinitePolicy::kSkip;
  config.train.max_consecutive_skips = 3;
  config.train.keep_checkpoints = 0;
  const auto summary = train(config);
  CHECK(summary.reason == StopReason::nonfinite);
  CHECK_MESSAGE(summary.message.find("3 non-finite steps in a row") != std::string::npos, summary.message);

  const auto records = read_metrics(summary.metrics);
  REQUIRE(records.size() >= 4);
  const nlohmann::json& stop = records.back();
  CHECK(stop["skipped_steps"] == 3);
  // The two skipped steps before the stop each left a checkpoint equal, tensor for tensor, to the one before them.
  const std::int64_t first_skip = stop["step"].get<std::int64_t>() - 2;
  const fs::path root = dir / "run/checkpoints";
  for (std::int64_t step = first_skip; step < first_skip + 2; ++step) {
    CAPTURE(step);
    for (const char* file : {"model.safetensors", "optimizer.safetensors"})
      CHECK(read_file(root / checkpoint_name(step) / file) == read_file(root / checkpoint_name(step - 1) / file));
    CHECK(load_checkpoint(root / checkpoint_name(step)).state.trainer["skip_streak"] == step - first_skip + 1);
  }
}
