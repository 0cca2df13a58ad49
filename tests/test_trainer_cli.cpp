// Tests for `diverge train` on the command line: help, config errors as one clear line, a run end to end.
#include <doctest/doctest.h>

#include <algorithm>

#include "engine/training/metrics.h"
#include "kernels/cuda/device_info.h"
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
  if (cuda::device_count() == 0)
    check_one_line_error(test::run_diverge(base + " --set train.device=cuda"), "train.device: 'cuda' needs a CUDA device");
  check_one_line_error(test::run_diverge(base + " --set parallel.ep=2"), "parallel.ep: 2 does not divide the 1 ranks");
  check_one_line_error(test::run_diverge(base + " --set edl.beta=0.1 --set edl.labels=topic"), "edl.labels");
  check_one_line_error(test::run_diverge(base + " --set parallel.ep_force_balance=true"),
                       "parallel.ep_force_balance: forced-balance routing is for `diverge bench ep` only");
}

TEST_CASE("train cli: a short run prints the plan, step lines and where its outputs are") {
  test::ScratchDir dir("train-cli-run");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = dir / "micro.json";
  test::write_micro_config(config, corpus, dir / "run", 4);
  auto result =
      test::run_diverge("train --config " + config.string() + " --set log.quiet=false --out " + (dir / "out").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  for (const char* text : {"params:", "memory (planned, cpu):", "activations: measured peak", "FLOP/token",
                           "step 4/4 | loss", "eval step 4 | val loss", "GFLOP/s", "metrics:", "checkpoint:"})
    CHECK_MESSAGE(result.output.find(text) != std::string::npos, text);
  CHECK(read_metrics(dir / "out/metrics.jsonl").size() == 5);
  CHECK(fs::exists(dir / "out/checkpoints/step-000004/model.safetensors"));
}

TEST_CASE("config check: runs train's checks against the corpus, and says what it could not check without one") {
  test::ScratchDir dir("config-check-corpus");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = dir / "micro.json";
  test::write_micro_config(config, corpus, dir / "run", 4);
  const std::string check = "config check --config " + config.string();

  const auto ok = test::run_diverge(check);
  REQUIRE_MESSAGE(ok.exit_code == 0, ok.output);
  for (const std::string& text :
       {std::string("ok\n"), "checked: corpus " + corpus.string() + ": vocabulary 64", std::string("checked: memory plan: ")})
    CHECK_MESSAGE(ok.output.find(text) != std::string::npos, text);
  CHECK(ok.output.find("not checked") == std::string::npos);
  CHECK_FALSE(fs::exists(dir / "run"));  // a check writes nothing

  // Each of these passed `config check` before it ran train's checks; `train` refused them all.
  check_one_line_error(test::run_diverge(check + " --set model.vocab_size=10"), "model.vocab_size: 10 is smaller");
  check_one_line_error(test::run_diverge(check + " --set edl.labels=topic"), "edl.labels");
  check_one_line_error(test::run_diverge(check + " --set data.val_label_system=topic"), "data.val_label_system");
  check_one_line_error(test::run_diverge(check + " --set data.weights.coarse.nope=1"), "nope");
  // Expert parallelism is checked as one rank of its group would run it (the world size is the launcher's).
  const auto expert_parallel = test::run_diverge(check + " --set parallel.ep=2");
  CHECK_MESSAGE(expert_parallel.exit_code == 0, expert_parallel.output);
  // --ranks plans one rank of a run on that many: ZeRO-1 then shards the moments over 4 ranks.
  const auto memory_line = [&](const std::string& args) {
    const auto run = test::run_diverge(check + " --set parallel.ep=2 --set parallel.zero=1" + args);
    REQUIRE_MESSAGE(run.exit_code == 0, run.output);
    const std::size_t at = run.output.find("memory (planned");
    REQUIRE_MESSAGE(at != std::string::npos, run.output);
    return run.output.substr(at, run.output.find('\n', at) - at);
  };
  const std::string alone = memory_line(""), of_four = memory_line(" --ranks 4");
  CHECK(alone.rfind("memory (planned, cpu): ", 0) == 0);
  CHECK(of_four.rfind("memory (planned per rank, cpu): ", 0) == 0);
  const auto optimizer = [](const std::string& line) { return line.substr(line.find("| optimizer")); };
  CHECK(optimizer(of_four) != optimizer(alone));
  check_one_line_error(test::run_diverge(check + " --set parallel.ep=2 --ranks 3"),
                       "parallel.ep: 2 does not divide the 3 ranks planned for");
  check_one_line_error(test::run_diverge(check + " --set data.micro_batch=4000000"), "memory plan: ");
  // Under expert parallelism the exchange's planned rows are a knob of their own.
  check_one_line_error(test::run_diverge(check + " --set data.micro_batch=4000000 --set parallel.ep=2"),
                       "or parallel.ep_capacity (the rows the expert exchange plans for");

  const auto absent = test::run_diverge(check + " --set data.corpus=" + (dir / "nowhere").string());
  REQUIRE_MESSAGE(absent.exit_code == 0, absent.output);
  CHECK(absent.output.find("not checked: data.corpus '" + (dir / "nowhere").string() + "' does not exist") !=
        std::string::npos);
  CHECK(absent.output.find("not checked: the memory plan") != std::string::npos);
}

TEST_CASE("train cli: usage errors exit 2 with CLI11's message; bad numbers name the flag without a 300-digit range") {
  for (const char* args : {"train --bogus", "train", "bogus-command", "train --config x.json --stop-after"}) {
    CAPTURE(args);
    CHECK(test::run_diverge(args).exit_code == 2);
  }
  const auto negative = test::run_diverge("train --config x.json --stop-after -1");
  CHECK(negative.exit_code == 2);
  CHECK_MESSAGE(negative.output.find("--stop-after: must be a whole number >= 0 (got -1)") != std::string::npos,
                negative.output);
  CHECK(negative.output.size() < 200);
  CHECK(test::run_diverge("train --help").exit_code == 0);
  CHECK(test::run_diverge("--version").exit_code == 0);
}
