// Tests for reading a checkpoint's state.json (the strict reader's rules, the loader state inside it) and for the
// names that checkpoint write errors give.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_io.h"
#include "engine/error.h"
#include "engine/files.h"
#include "tests/checkpoint_support.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;
using diverge::test::error_of;
using diverge::test::run_diverge;
using diverge::test::ScratchDir;

namespace {

const std::vector<float> kValues(4, 0.5f);

std::vector<NamedTensor> one_tensor(const std::string& name) {
  NamedTensor t;
  t.name = name;
  t.shape = {4};
  t.data = kValues.data();
  return {t};
}

fs::path save_step(const fs::path& root, std::int64_t step) {
  TrainingState state;
  state.step = step;
  state.loader = {{"format_version", 1}, {"seed", 7}};
  return save_checkpoint(root, state, one_tensor("w"), one_tensor("w.exp_avg"), 0);
}

// The error of loading the checkpoint after state.json's text has `from` replaced by `to` (first occurrence).
std::string error_after_edit(const fs::path& checkpoint, const std::string& from, const std::string& to) {
  std::string text = read_file(checkpoint / "state.json");
  REQUIRE(text.find(from) != std::string::npos);
  text.replace(text.find(from), from.size(), to);
  write_file_atomic(checkpoint / "state.json", text);
  return error_of([&] { (void)load_checkpoint(checkpoint); });
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("state.json: duplicate keys, deep nesting and huge values are one-line errors naming the file") {
  ScratchDir dir("ckpt-state-reader");
  const fs::path checkpoint = save_step(dir / "checkpoints", 3);
  const std::string where = (checkpoint / "state.json").string() + ": ";
  const std::string original = read_file(checkpoint / "state.json");

  CHECK(error_after_edit(checkpoint, "\"step\":", "\"step\": 4, \"step\":") ==
        where + "step: duplicate key (a key may appear once per object)");
  write_file_atomic(checkpoint / "state.json", original);
  CHECK(error_after_edit(checkpoint, "\"seed\":", "\"seed\": 1, \"seed\":") ==
        where + "loader.seed: duplicate key (a key may appear once per object)");
  write_file_atomic(checkpoint / "state.json", original);
  const std::string deep =
      error_after_edit(checkpoint, "\"step\": 3", "\"step\": " + std::string(100000, '[') + std::string(100000, ']'));
  CHECK(deep.rfind(where + "step[0][0]", 0) == 0);
  CHECK(contains(deep, "nest deeper than 128 levels"));
  write_file_atomic(checkpoint / "state.json", original);
  std::string many = "[1";
  for (int i = 0; i < 100000; ++i) many += ",1";
  const std::string big = error_after_edit(checkpoint, "\"step\": 3", "\"step\": " + many + "]");
  CHECK(big.rfind(where + "step: is [1,1,1,1,", 0) == 0);
  CHECK(big.size() < where.size() + 120);
}

TEST_CASE("checkpoint write errors name the file where it will be published, never a temporary") {
  ScratchDir dir("ckpt-write-names");
  const fs::path root = dir / "checkpoints";
  TrainingState state;
  state.step = 5;
  const std::string message =
      error_of([&] { save_checkpoint(root, state, one_tensor("__metadata__"), one_tensor("m"), 0); });
  CHECK(message == (root / "step-000005" / "model.safetensors").string() +
                       ": '__metadata__' is reserved and cannot name a tensor");
  CHECK_FALSE(contains(message, ".tmp-"));
}

TEST_CASE("resume: a corrupt loader state names state.json and the key") {
  ScratchDir dir("ckpt-loader-state");
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", 4);
  REQUIRE(run_diverge("train --config " + (dir / "micro.json").string()).exit_code == 0);
  const fs::path state = dir / "run" / "checkpoints" / "step-000004" / "state.json";
  const std::string original = read_file(state);
  // Replaces the first `from` inside the "loader" object (the config before it has a seed too).
  auto resume_with = [&](const std::string& from, const std::string& to) {
    std::string text = original;
    const auto at = text.find(from, text.find("\"loader\""));
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    write_file_atomic(state, text);
    // The checkpoint named on purpose: --resume auto would pass over the damaged one and report why in its own error.
    return run_diverge("train --config " + (dir / "micro.json").string() + " --set train.steps=5 --resume " +
                       state.parent_path().string());
  };

  auto r = resume_with("\"seed\":", "\"seed\":\"x\",\"was\":");
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: " + state.string() + ": loader.seed: expected a non-negative integer, got \"x\""));
  r = resume_with("\"global_sample\":", "\"global_sample\":12345,\"was\":");
  CHECK(r.exit_code == 1);
  CHECK(contains(r.output, "error: " + state.string() +
                               ": loader.global_sample: is 12345 but the streams' taken counts do not sum to it"));
}
