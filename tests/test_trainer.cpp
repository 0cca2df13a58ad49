// Tests for the training loop: bit-identical reruns, bit-exact resume, what a checkpoint holds, learning.
#include <doctest/doctest.h>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/config/config.h"
#include "engine/error.h"
#include "engine/training/metrics.h"
#include "engine/training/trainer.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

constexpr std::int64_t kSteps = 12;

config::Config micro_config(const test::ScratchDir& dir, const fs::path& corpus, const std::string& run) {
  auto file = dir / (run + ".json");
  test::write_micro_config(file, corpus, dir / run, kSteps);
  return config::Config::load(file);
}

std::vector<nlohmann::json> records_of_type(const std::vector<nlohmann::json>& records, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& record : records)
    if (record["type"] == type) out.push_back(record);
  return out;
}

}  // namespace

TEST_CASE("trainer: two runs with one seed log bit-identical losses, gradient norms and weights") {
  test::ScratchDir dir("trainer-determinism");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto a = train(micro_config(dir, corpus, "a"));
  auto b = train(micro_config(dir, corpus, "b"));
  CHECK(a.step == kSteps);
  CHECK(a.tokens == kSteps * 4 * 32 * 2);
  auto records_a = test::deterministic_records(a.metrics);
  auto records_b = test::deterministic_records(b.metrics);
  CHECK(records_of_type(records_a, "train").size() == kSteps);
  CHECK(records_of_type(records_a, "eval").size() == kSteps / 4);
  CHECK(records_a == records_b);
  CHECK(test::final_model_hash(dir / "a") == test::final_model_hash(dir / "b"));

  // Another seed is another run: the records differ.
  auto c_config = micro_config(dir, corpus, "c");
  c_config.train.seed = 8;
  auto c = train(c_config);
  CHECK(test::deterministic_records(c.metrics) != records_a);
}

TEST_CASE("trainer: a run stopped at step k and resumed logs exactly what an uninterrupted run logs") {
  test::ScratchDir dir("trainer-resume");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto whole = train(micro_config(dir, corpus, "whole"));

  // Stopped at 6 (a checkpoint is taken there although checkpoint_every is 4), then resumed to the end.
  auto config = micro_config(dir, corpus, "split");
  auto first = train(config, {.stop_after = 6});
  CHECK(first.step == 6);
  REQUIRE(first.checkpoint.has_value());
  CHECK(first.checkpoint->filename() == "step-000006");
  CHECK(records_of_type(read_metrics(first.metrics), "train").size() == 6);
  config.train.resume = "auto";
  auto second = train(config);
  CHECK(second.step == kSteps);
  CHECK(second.tokens == whole.tokens);
  CHECK(test::deterministic_records(second.metrics) == test::deterministic_records(whole.metrics));
  CHECK(test::final_model_hash(dir / "split") == test::final_model_hash(dir / "whole"));

  // Resuming a finished run runs nothing and keeps the log.
  auto again = train(config);
  CHECK(again.step == kSteps);
  CHECK(test::deterministic_records(again.metrics) == test::deterministic_records(whole.metrics));
}

TEST_CASE("trainer: a checkpoint holds the step, tokens, loader position, seed and resolved config") {
  test::ScratchDir dir("trainer-checkpoint");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, "run");
  auto summary = train(config, {.stop_after = 4});
  auto checkpoints = list_checkpoints(dir / "run/checkpoints");
  REQUIRE(checkpoints.size() == 1);
  auto loaded = load_checkpoint(checkpoints[0].path);
  CHECK(loaded.state.step == 4);
  CHECK(loaded.state.tokens_seen == summary.tokens);
  CHECK(loaded.state.loader["global_sample"].get<std::int64_t>() == 4 * 2 * 4);
  CHECK(loaded.state.rng["seed"].get<std::uint64_t>() == 7);
  CHECK(loaded.state.config["model"]["vocab_size"].get<std::int64_t>() == 64);
  CHECK(loaded.model.find("model.layers.1.mlp.experts.3.down_proj.weight") != nullptr);
  CHECK(loaded.optimizer.find("model.embed_tokens.weight.exp_avg_sq") != nullptr);
  CHECK(fs::exists(dir / "run/config.json"));
}

TEST_CASE("trainer: resuming under a different model is refused naming the checkpoint and the tensor") {
  test::ScratchDir dir("trainer-mismatch");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, "run");
  train(config, {.stop_after = 4});
  config.model.expert_hidden = 48;
  config.train.resume = "auto";
  CHECK_THROWS_WITH_AS(train(config), doctest::Contains("step-000004"), Error);
}

TEST_CASE("trainer: the micro model learns the synthetic domains far below their unigram entropy") {
  test::ScratchDir dir("trainer-learns");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, "run");
  config.train.steps = 60;
  config.optim.warmup_steps = 5;
  config.data.val_every = 60;
  config.log.every = 60;
  auto summary = train(config);
  auto evals = records_of_type(read_metrics(summary.metrics), "eval");
  REQUIRE(evals.size() == 1);
  // Each domain spreads over about 31 or 32 ids: a unigram model pays about log(31) = 3.4 nats per token. In "count"
  // the previous token determines the next (near 0 once learned); in "pairs" every second token repeats the one
  // before, which a bigram fit that cannot tell the halves of a pair apart prices at about 2.4 nats.
  CHECK(evals[0]["val_loss"]["count"].get<double>() < 1.5);
  CHECK(evals[0]["val_loss"]["pairs"].get<double>() < 2.8);
}

TEST_CASE("trainer: --resume auto passes over a damaged newest checkpoint or a broken `latest`, saying which") {
  test::ScratchDir dir("trainer-fallback");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto whole = train(micro_config(dir, corpus, "whole"));
  auto config = micro_config(dir, corpus, "split");
  train(config, {.stop_after = 8});  // checkpoints at 4 and 8
  const fs::path root = dir / "split/checkpoints";
  std::string bytes = read_file(root / "step-000008/model.safetensors");
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x01);
  write_file_atomic(root / "step-000008/model.safetensors", bytes);

  // A checkpoint named on purpose is never swapped for another.
  config.train.resume = (root / "step-000008").string();
  CHECK_THROWS_WITH_AS(train(config), doctest::Contains("(file damaged or replaced)"), Error);

  config.train.resume = "auto";
  write_file_atomic(root / "latest", "step-000099\n");
  config.save_resolved(dir / "split.json");
  const auto cli = test::run_diverge("train --config " + (dir / "split.json").string() + " --stop-after 9");
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.output);
  CHECK(cli.output.find("warning: resume: " + (root / "latest").string() + ": names step-000099") !=
        std::string::npos);
  CHECK(cli.output.find("warning: cannot resume from " + (root / "step-000008").string()) != std::string::npos);
  CHECK(load_checkpoint(*read_latest(root)).state.step == 9);

  auto rest = train(config);
  CHECK(rest.step == kSteps);
  CHECK(test::deterministic_records(rest.metrics) == test::deterministic_records(whole.metrics));
  CHECK(test::final_model_hash(dir / "split") == test::final_model_hash(dir / "whole"));
}

TEST_CASE("trainer: when no checkpoint of the run loads, --resume auto is an error, never a fresh start") {
  test::ScratchDir dir("trainer-no-fallback");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  auto config = micro_config(dir, corpus, "run");
  train(config, {.stop_after = 4});
  fs::remove(dir / "run/checkpoints/step-000004/optimizer.safetensors");
  config.train.resume = "auto";
  CHECK_THROWS_WITH_AS(train(config), doctest::Contains("no checkpoint under"), Error);
  CHECK(records_of_type(read_metrics(dir / "run/metrics.jsonl"), "train").size() == 4);
}
