// Tests for `diverge train` on the command line: help, config errors as one clear line, a run end to end.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/metrics.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

// A failed command prints exactly one line, "error: ..." (what main() makes of a diverge::Error).
void check_one_line_error(const test::CommandResult& result, const std::string& expected) {
  CHECK(result.exit_code != 0);
  CHECK(std::count(result.output.begin(), result.output.end(), '\n') == 1);
  CHECK(result.output.rfind("error: ", 0) == 0);
  CHECK_MESSAGE(result.output.find(expected) != std::string::npos, result.output);
}

}  // namespace

TEST_CASE("train cli: --help names the options and what the run writes") {
  auto result = test::run_diverge("train --help");
  CHECK(result.exit_code == 0);
  for (const char* text : {"--config", "--set", "--resume", "--out", "--stop-after", "metrics.jsonl", "checkpoints"})
    CHECK_MESSAGE(result.output.find(text) != std::string::npos, text);
}

TEST_CASE("train cli: a bad key, a wrong type, a negative size, a missing corpus, an unsupported setting: one line") {
  test::ScratchDir dir("train-cli-errors");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = dir / "micro.json";
  test::write_micro_config(config, corpus, dir / "run", 4);
  std::string base = "train --config " + config.string();

  check_one_line_error(test::run_diverge(base + " --set model.n_expert=4"), "model.n_expert");
  check_one_line_error(test::run_diverge(base + " --set data.seq_len=abc"), "data.seq_len");
  check_one_line_error(test::run_diverge(base + " --set data.micro_batch=-3"), "data.micro_batch");
  check_one_line_error(test::run_diverge(base + " --set data.corpus=" + (dir / "nowhere").string()), "diverge prepare");
  check_one_line_error(test::run_diverge("train --config " + (dir / "missing.json").string()), "missing.json");
  check_one_line_error(test::run_diverge(base + " --resume " + (dir / "no-checkpoint").string()), "no-checkpoint");
  check_one_line_error(test::run_diverge(base + " --set train.device=cuda"), "train.device");
  check_one_line_error(test::run_diverge(base + " --set edl.beta=0.1 --set edl.labels=topic"), "edl.labels");
}

TEST_CASE("train cli: a short run prints the plan, step lines and where its outputs are") {
  test::ScratchDir dir("train-cli-run");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = dir / "micro.json";
  test::write_micro_config(config, corpus, dir / "run", 4);
  auto result =
      test::run_diverge("train --config " + config.string() + " --set log.quiet=false --out " + (dir / "out").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  for (const char* text : {"params:", "memory (planned):", "activations: measured peak", "FLOP/token",
                           "step 4/4 | loss", "eval step 4 | val loss", "GFLOP/s", "metrics:", "checkpoint:"})
    CHECK_MESSAGE(result.output.find(text) != std::string::npos, text);
  CHECK(read_metrics(dir / "out/metrics.jsonl").size() == 5);
  CHECK(fs::exists(dir / "out/checkpoints/step-000004/model.safetensors"));
}
