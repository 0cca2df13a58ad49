// Data-parallel training under mpirun against the single process: np 2 and np 4 log the losses and reach the weights
// of one process accumulating the same micro-batches, and an error on one rank ends every rank, naming it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/checkpoint/safetensors_reader.h"
#include "engine/json/json_reader.h"
#include "tests/mpi_train_support.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;
using namespace diverge::test;

namespace {

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

// A checkpoint every 2 steps, every one kept: runs whose middle checkpoints others resume.
constexpr const char* kEveryTwo = " --set train.checkpoint_every=2 --set train.keep_checkpoints=0";

// With a shared expert, which each rank runs on its own tokens beside the expert exchange. The experts' sums gather
// rows from several ranks in one product as well, so more terms are grouped differently than under data parallelism
// alone. Measured after four steps: losses within 1.0e-7 relative (the EDL term's), weights within 1.9e-7 without
// the shared expert and 3.6e-7 with it (ep 2 on 2 ranks); 2e-6 leaves a margin of 5, far below the ~lr = 1e-2 a
// dropped or doubled gradient moves a weight by.
void check_expert_parallel_matches_accumulation(const fs::path& dir, int ranks, int ep) {
  const std::string model =
      std::string(" --set model.n_shared_experts=1 --set model.shared_expert_hidden=16") + kSmoothAdam;
  check_same_training(dir, ranks, {.settings = " --set parallel.ep=" + std::to_string(ep) + model},
                      {.grad_accum = ranks, .settings = model}, {"loss", "lm", "lb", "z", "edl", "grad_norm"},
                      {.losses = 1e-6, .weights = 2e-6});
}

}  // namespace

TEST_CASE("mpi train: 2 ranks log the losses and reach the weights of one process accumulating 2 micro-batches") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-np2");
  check_matches_accumulation(dir.path(), 2);

  // The same ranks again: MPI's reductions are deterministic for a given rank count, so the log and the weights
  // repeat bit for bit.
  const auto again = test::run_diverge_ranks(2, train_args(dir / "micro.json", dir / "np2-again", {}));
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

TEST_CASE("mpi train: experts shared by 2 ranks, at 2 and at 4 ranks, train as one process accumulating") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-ep2");
  check_expert_parallel_matches_accumulation(dir / "np2", 2, 2);
  check_expert_parallel_matches_accumulation(dir / "np4", 4, 2);
}

TEST_CASE("mpi train: experts shared by 4 ranks train as one process accumulating 4 micro-batches") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-ep4");
  check_expert_parallel_matches_accumulation(dir.path(), 4, 4);
}

TEST_CASE("mpi train: a checkpoint of 4 ranks at ep 2 resumes at 1 rank and at 2 ranks at ep 2, and trains on") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-ep-reshard");
  const fs::path config = write_mpi_micro_config(dir.path());
  const Cut four{.micro_batch = 1, .settings = std::string(" --set parallel.ep=2") + kEveryTwo + kSmoothAdam};
  const auto whole = test::run_diverge_ranks(4, train_args(config, dir / "np4", four));
  REQUIRE_MESSAGE(whole.exit_code == 0, whole.output);
  const fs::path middle = dir / "np4/checkpoints" / checkpoint_name(2);
  const LoadedCheckpoint saved = load_checkpoint(middle);
  CHECK(saved.state.layout.world == 4);
  CHECK(saved.state.layout.ep == 2);
  REQUIRE(saved.model_shards.size() == 2);
  CHECK(saved.model.find("model.layers.1.mlp.experts.0.up_proj.weight") == nullptr);
  CHECK(saved.model_shards[1].find("model.layers.1.mlp.experts.3.up_proj.weight") != nullptr);

  // The same global batch of 4 rows a step, cut differently: the resumed runs log steps 3 and 4 as the whole run
  // did and end at its weights, to the rounding of check_expert_parallel_matches_accumulation.
  const std::string resume = " --resume " + middle.string() + kSmoothAdam;
  const auto alone = test::run_diverge(train_args(config, dir / "np1", {.micro_batch = 1, .grad_accum = 4,
                                                                        .settings = resume}));
  REQUIRE_MESSAGE(alone.exit_code == 0, alone.output);
  const auto pair = test::run_diverge_ranks(2, train_args(config, dir / "np2", {.micro_batch = 1, .grad_accum = 2,
                                                                  .settings = " --set parallel.ep=2" + resume}));
  REQUIRE_MESSAGE(pair.exit_code == 0, pair.output);
  const auto want = step_records(dir / "np4");
  REQUIRE(want.size() == static_cast<std::size_t>(kMpiSteps));
  for (const char* run : {"np1", "np2"}) {
    const auto got = step_records(dir / run);
    REQUIRE(got.size() == 2);
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i]["step"] == want[i + 2]["step"]);
      for (const char* key : {"loss", "lm", "grad_norm"})
        CHECK_MESSAGE(relative_difference(got[i], want[i + 2], key) < 1e-6, run, " ", key, " at step ", i + 3);
    }
    const double weights = max_weight_difference(newest_checkpoint(dir / run), newest_checkpoint(dir / "np4"));
    CHECK_MESSAGE(weights < 1e-6, run, ": weights differ by up to ", weights);
  }
}

TEST_CASE("mpi train: ZeRO-1 trains bit for bit as whole moments do, and its checkpoints resume at other rank counts") {
  if (!test::mpi_ready()) return;
  test::ScratchDir dir("mpi-train-zero");
  const fs::path config = write_mpi_micro_config(dir.path());
  // ZeRO-1 moves AdamW's moments and the choice of which rank updates which parameter, not one operation on any
  // of them: each rank receives the sums of its slices (reduce-scattered: the same sums the all-reduce forms, as
  // MPI forms them at 2 and at 4 ranks) and applies the same elementwise update. So the losses, the weights and the
  // moments (gathered into the checkpoint) are the very bits of the run that keeps whole moments everywhere; only
  // the gradient norm adds its squares in another order (check_same_records_but_norm_order).
  for (const auto& [ranks, ep] : {std::pair{2, 1}, std::pair{4, 2}}) {
    const std::string cut = " --set parallel.ep=" + std::to_string(ep) + kEveryTwo + kSmoothAdam;
    const std::string name = "np" + std::to_string(ranks) + "-ep" + std::to_string(ep);
    const Cut whole_cut{.micro_batch = 1, .settings = cut};
    const Cut sharded_cut{.micro_batch = 1, .settings = cut + " --set parallel.zero=1"};
    const auto whole = test::run_diverge_ranks(ranks, train_args(config, dir / (name + "-zero0"), whole_cut));
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.output);
    const auto sharded = test::run_diverge_ranks(ranks, train_args(config, dir / (name + "-zero1"), sharded_cut));
    REQUIRE_MESSAGE(sharded.exit_code == 0, sharded.output);
    check_same_records_but_norm_order(dir / (name + "-zero1"), dir / (name + "-zero0"));
    CHECK(checkpoint_files(dir / (name + "-zero1")) == checkpoint_files(dir / (name + "-zero0")));
  }

  // The sharded moments of 4 ranks at ep 2 scatter again over 2 ranks at ep 1, which train on as the 4 did.
  const fs::path middle = dir / "np4-ep2-zero1/checkpoints" / checkpoint_name(2);
  const Cut resume{.micro_batch = 1,
                   .grad_accum = 2,
                   .settings = " --set parallel.zero=1 --resume " + middle.string() + kSmoothAdam};
  const auto resumed = test::run_diverge_ranks(2, train_args(config, dir / "resumed", resume));
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.output);
  const auto want = step_records(dir / "np4-ep2-zero1");
  const auto got = step_records(dir / "resumed");
  REQUIRE(got.size() == 2);
  for (std::size_t i = 0; i < got.size(); ++i)
    for (const char* key : {"loss", "lm", "grad_norm"})
      CHECK_MESSAGE(relative_difference(got[i], want[i + 2], key) < 1e-6, key, " at step ", i + 3);
  const double weights = max_weight_difference(newest_checkpoint(dir / "resumed"), middle.parent_path() /
                                                                                        checkpoint_name(kMpiSteps));
  CHECK_MESSAGE(weights < 1e-6, "weights differ by up to ", weights);
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
  const fs::path config = write_mpi_micro_config(dir.path());
  const auto first = test::run_diverge_ranks(2, train_args(config, dir / "run", {}));
  REQUIRE_MESSAGE(first.exit_code == 0, first.output);

  // A fresh start into a run directory that holds a run: rank 0, which owns the directory, refuses it while
  // rank 1 already waits for it in a collective.
  const auto again = test::run_diverge_ranks(2, train_args(config, dir / "run", {}));
  CHECK(again.exit_code != 0);
  CHECK(again.exit_code != 124);  // not ended by the timeout
  CHECK_MESSAGE(again.output.find("error: rank 0: ") != std::string::npos, again.output);
  CHECK_MESSAGE(again.output.find("already holds a run") != std::string::npos, again.output);
}
