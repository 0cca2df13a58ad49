// Faults under mpirun: a killed rank and a stopped (hung) rank end every rank within a minute with a line naming a
// rank, and a non-finite loss or gradient on one rank stops every rank at the same step, as the guard does alone.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <optional>
#include <string>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/files.h"
#include "engine/training/metrics.h"
#include "tests/mpi_fault_support.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

// The micro config of a run that only a fault ends, in dir/micro.json, writing to dir/run.
fs::path endless_config(const test::ScratchDir& dir) {
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", 100000);
  return dir / "micro.json";
}

std::string train_args(const fs::path& config, const std::string& settings = "") {
  return std::string(DIVERGE_BINARY) + " train --config " + config.string() + settings;
}

}  // namespace

TEST_CASE("mpi faults: a killed rank ends every rank within a minute, and mpirun names it") {
  if (!test::mpi_ready()) return;
  for (const auto& [ranks, victim] : {std::pair{2, 1}, std::pair{4, 0}}) {
    CAPTURE(ranks);
    test::ScratchDir dir("mpi-faults-kill");
    const auto [code, output] =
        fault_one_rank(dir.path(), ranks, train_args(endless_config(dir)), dir / "run/metrics.jsonl", victim, SIGKILL);
    CHECK(code != 0);
    CHECK_MESSAGE(says(output, "rank " + std::to_string(victim)), output);
  }
}

TEST_CASE("mpi faults: a stopped rank ends every rank through the collective deadline, naming the waiting ranks") {
  if (!test::mpi_ready()) return;
  // 3 s: longer than any wait of this micro run's collectives on the loaded test machine, short enough that the
  // job ends well within the fault limit (deadline, up to a second of polling, 1.5 s of grace, the launcher).
  for (const auto& [ranks, victim] : {std::pair{2, 1}, std::pair{4, 2}}) {
    CAPTURE(ranks);
    test::ScratchDir dir("mpi-faults-stop");
    const auto [code, output] = fault_one_rank(dir.path(), ranks,
                                               train_args(endless_config(dir), " --set parallel.timeout_s=3"),
                                               dir / "run/metrics.jsonl", victim, SIGSTOP);
    CHECK(code == 1);
    check_timeout_lines(output, ranks, victim);
  }
}

TEST_CASE("mpi faults: a non-finite loss or gradient on one rank stops every rank at the same step, as alone") {
  if (!test::mpi_ready()) return;
  // Rank 1 alone is started (mpirun's form of one command per rank) with a learning rate that blows its replica's
  // weights up at its first update, so that at a later step its losses or its gradients are NaN while rank 0's
  // replica stays finite: at lr 1e15 the products overflow and its LM loss is NaN; at 1e30 every residual stream
  // overflows, RMSNorm maps it to zeros, the loss stays finite and only the gradients are NaN. The losses and
  // gradients are all-reduced before the guard reads them, so both ranks must judge the step alike and stop
  // together; a rank that went on would wait alone in the next collective until the deadline (10 s) ended the
  // job with exit 1.
  for (const auto& [lr, quantity] : {std::pair<std::string, std::string>{"1e15", "the lm loss is nan"},
                                     std::pair<std::string, std::string>{"1e30", "the gradient norm is nan"}}) {
    CAPTURE(lr);
    test::ScratchDir dir("mpi-faults-nonfinite");
    const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
    test::write_micro_config(dir / "micro.json", corpus, dir / "run", 12);
    const std::string both = " --set train.checkpoint_every=1 --set parallel.timeout_s=10";
    const std::string blown = both + " --set optim.lr=" + lr + " --set optim.warmup_steps=1";
    Job job(dir / "job.out", "1 " + train_args(dir / "micro.json", both) + " : -np 1 " +
                                 train_args(dir / "micro.json", blown));
    const std::optional<int> code = job.wait(std::chrono::seconds(120));
    REQUIRE_MESSAGE(code.has_value(), job.output());
    const std::string output = job.output();
    CHECK_MESSAGE(*code == 3, output);  // the single process's exit code for a non-finite stop
    CHECK_MESSAGE(!says(output, "waited"), output);

    // Rank 0 speaks for both: one line naming the step, which is the last step of the log, its NaN as null.
    const auto records = read_metrics(dir / "run/metrics.jsonl");
    REQUIRE_FALSE(records.empty());
    const std::int64_t step = records.back()["step"].get<std::int64_t>();
    CHECK(step >= 2);
    CHECK_MESSAGE(output.rfind("stopped: step " + std::to_string(step) + ": " + quantity, 0) == 0, output);
    CHECK(records.back()["grad_norm"].is_null());

    // The checkpoints are whole and finite, and the newest is of the step before the stop.
    const auto checkpoints = list_checkpoints(dir / "run/checkpoints");
    REQUIRE_FALSE(checkpoints.empty());
    CHECK(checkpoints.back().step == step - 1);
    for (const auto& checkpoint : checkpoints) CHECK(test::checkpoint_is_finite(checkpoint.path));
  }
}
