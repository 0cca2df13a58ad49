// Data-parallel training under mpirun against the single process: np 2 and np 4 log the losses and reach the weights
// of one process accumulating the same micro-batches, and an error on one rank ends every rank, naming it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/safetensors_reader.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

// The loader's global sample order depends neither on the micro-batch nor on the rank count, so np ranks with
// micro-batch B and no accumulation read, in one step, the samples that one process reads with micro-batch B and
// grad_accum = np (rank i's rows are its micro-batch i), or with micro-batch np * B in one pass.
constexpr std::int64_t kSteps = 4;

// How far two cuts of the same training may drift apart through f32 rounding alone.
struct Tolerance {
  double losses = 0.0;   // relative, per logged loss and gradient norm
  double weights = 0.0;  // absolute, per weight (the micro model's weights are ~0.02 to 1)
};

// How a run cuts each step's global batch: rows per micro-batch and rank, micro-batches per rank; more settings.
struct Cut {
  std::int64_t micro_batch = 2;
  std::int64_t grad_accum = 1;
  std::string settings;
};

std::string train_args(const fs::path& config, const fs::path& out, const Cut& cut) {
  return "train --config " + config.string() + " --set data.micro_batch=" + std::to_string(cut.micro_batch) +
         " --set data.grad_accum=" + std::to_string(cut.grad_accum) + cut.settings + " --out " + out.string();
}

// `diverge train` as `ranks` MPI ranks on this host (tests/mpirun.sh), ended after 120 s whatever happens.
test::CommandResult run_ranks(int ranks, const std::string& args) {
  return test::run_command("timeout 120 " + test::source_path("tests/mpirun.sh").string() + " " +
                           std::to_string(ranks) + " " + DIVERGE_BINARY + " " + args);
}

// The largest |a - b| over every tensor of two runs' newest checkpoints (the same names and shapes in both).
double max_weight_difference(const fs::path& run_a, const fs::path& run_b) {
  const SafetensorsFile a(*read_latest(run_a / "checkpoints") / "model.safetensors");
  const SafetensorsFile b(*read_latest(run_b / "checkpoints") / "model.safetensors");
  REQUIRE(a.tensors().size() == b.tensors().size());
  double worst = 0.0;
  for (const TensorEntry& entry : a.tensors()) {
    const auto bytes_a = a.data(entry);
    const auto bytes_b = b.data(b.tensor(entry.name));
    REQUIRE(bytes_a.size() == bytes_b.size());
    std::vector<float> va(bytes_a.size() / sizeof(float)), vb(va.size());
    std::memcpy(va.data(), bytes_a.data(), bytes_a.size());
    std::memcpy(vb.data(), bytes_b.data(), bytes_b.size());
    for (std::size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::abs(double{va[i]} - double{vb[i]}));
  }
  return worst;
}

double relative_difference(const nlohmann::json& a, const nlohmann::json& b, const char* key) {
  const double x = a.at(key).get<double>(), y = b.at(key).get<double>();
  return std::abs(x - y) / std::max(std::abs(y), 1e-30);
}

// The training records of a run (evals left out), without their timing fields.
std::vector<nlohmann::json> step_records(const fs::path& run) {
  std::vector<nlohmann::json> steps;
  for (auto& record : test::deterministic_records(run / "metrics.jsonl"))
    if (record.contains("loss")) steps.push_back(std::move(record));
  return steps;
}

// Runs the micro config at `ranks` ranks cut as `parallel` and as one process cut as `single`, in dir/np<ranks> and
// dir/single, and checks that they log the same `keys` and reach the same weights, to f32 rounding.
void check_same_training(const fs::path& dir, int ranks, const Cut& parallel, const Cut& single,
                         std::initializer_list<const char*> keys, const Tolerance& tolerance) {
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  const fs::path config = dir / "micro.json";
  test::write_micro_config(config, corpus, dir / "unused", kSteps);
  const fs::path single_run = dir / "single", ranks_run = dir / ("np" + std::to_string(ranks));

  const auto alone = test::run_diverge(train_args(config, single_run, single));
  REQUIRE_MESSAGE(alone.exit_code == 0, alone.output);
  const auto together = run_ranks(ranks, train_args(config, ranks_run, parallel));
  REQUIRE_MESSAGE(together.exit_code == 0, together.output);
  CHECK_MESSAGE(together.output.empty(), together.output);  // quiet: only rank 0 may speak, and errors
  CHECK(fs::exists(ranks_run / "config.json"));

  const auto want = step_records(single_run);
  const auto got = step_records(ranks_run);
  REQUIRE(want.size() == static_cast<std::size_t>(kSteps));
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    CHECK(got[i]["step"] == want[i]["step"]);
    CHECK(got[i]["tokens"] == want[i]["tokens"]);
    for (const char* key : keys)
      CHECK_MESSAGE(relative_difference(got[i], want[i], key) < tolerance.losses, std::string(key), " at step ",
                    i + 1, ": ", got[i][key].dump(), " against ", want[i][key].dump());
  }
  const double weights = max_weight_difference(ranks_run, single_run);
  CHECK_MESSAGE(weights < tolerance.weights, "weights differ by up to ", weights);
}

// Data parallelism against accumulation: every micro-batch's losses and gradients are the same computation in both;
// what differs is how the sum over the micro-batches is formed. One process adds each micro-batch into the gradient
// block as its backward pass runs (a token's embedding gradient, say, is added row by row onto the sum so far), the
// ranks sum their finished gradients in MPI's all-reduce: the same terms, grouped differently, so the two agree to
// f32 rounding (6e-8 relative per addition) and not bit for bit. Measured at 2 and 4 ranks: losses and gradient
// norms within 1.2e-7 relative, weights within 1.2e-7 after four AdamW steps at lr 1e-2, so 1e-6 leaves a margin
// of 8; a dropped or doubled rank changes the gradient by half or more and the weights by ~lr per step.
void check_matches_accumulation(const fs::path& dir, int ranks) {
  check_same_training(dir, ranks, {.settings = ""}, {.grad_accum = ranks, .settings = ""},
                      {"loss", "lm", "lb", "z", "edl", "grad_norm"}, {.losses = 1e-6, .weights = 1e-6});
}

}  // namespace

TEST_CASE("mpi train: 2 ranks log the losses and reach the weights of one process accumulating 2 micro-batches") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-np2");
  check_matches_accumulation(dir.path(), 2);

  // The same ranks again: MPI's reductions are deterministic for a given rank count, so the log and the weights
  // repeat bit for bit.
  const auto again = run_ranks(2, train_args(dir / "micro.json", dir / "np2-again", {}));
  REQUIRE_MESSAGE(again.exit_code == 0, again.output);
  CHECK(test::deterministic_records(dir / "np2-again/metrics.jsonl") ==
        test::deterministic_records(dir / "np2/metrics.jsonl"));
  CHECK(test::final_model_hash(dir / "np2-again") == test::final_model_hash(dir / "np2"));
}

TEST_CASE("mpi train: 4 ranks log the losses and reach the weights of one process accumulating 4 micro-batches") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-np4");
  check_matches_accumulation(dir.path(), 4);
}

TEST_CASE("mpi train: the global scopes at 2 ranks train as one process on the concatenated micro-batch") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-global-scopes");
  // Each rank's EDL gradient uses the per-domain routing sums of both ranks' rows, and its load-balance loss the
  // expert loads of both, so together they train as one process whose micro-batch holds both ranks' rows (its
  // scopes, over one micro-batch, are the same either way). The LM and z losses are means over tokens, equal in
  // both cuts. The cuts differ in how the matrix products split their sums over tokens, and EDL's large early
  // gradient (beta 0.1 on a loss near 10) moves the weights further per step. Measured: losses and gradient norms
  // within 3e-7 relative, weights within 9e-7; the global L_EDL's gradient counted once instead of twice (averaged
  // over the ranks like a per-rank loss) halves the first gradient norm and moves the weights by 0.04.
  const std::string global = " --set edl.beta=0.1 --set edl.scope=global --set loss.lb_scope=global";
  check_same_training(dir.path(), 2, {.settings = global}, {.micro_batch = 4, .settings = global},
                      {"loss", "lm", "lb", "z", "edl", "grad_norm"}, {.losses = 1e-6, .weights = 5e-6});
}

TEST_CASE("mpi train: an error on one rank ends every rank with one line naming it, without a hang") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-error");
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  const fs::path config = dir / "micro.json";
  test::write_micro_config(config, corpus, dir / "unused", kSteps);
  const auto first = run_ranks(2, train_args(config, dir / "run", {}));
  REQUIRE_MESSAGE(first.exit_code == 0, first.output);

  // A fresh start into a run directory that holds a run: rank 0, which owns the directory, refuses it while
  // rank 1 already waits for it in a collective.
  const auto again = run_ranks(2, train_args(config, dir / "run", {}));
  CHECK(again.exit_code != 0);
  CHECK(again.exit_code != 124);  // not ended by the timeout
  CHECK_MESSAGE(again.output.find("error: rank 0: ") != std::string::npos, again.output);
  CHECK_MESSAGE(again.output.find("already holds a run") != std::string::npos, again.output);
}
