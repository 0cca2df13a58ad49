// Tests that SIGKILL at random moments of `diverge train` (checkpointing every step) never loses a resumable run.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/config/config.h"
#include "engine/trainer.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

// Starts `diverge train --config config --resume auto` with its output discarded; returns the child's pid.
pid_t start_training(const fs::path& config) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execl(DIVERGE_BINARY, DIVERGE_BINARY, "train", "--config", config.c_str(), "--resume", "auto",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("trainer kill: after SIGKILLs during checkpointing the latest checkpoint loads and resume is exact") {
  test::ScratchDir dir("trainer-kill");
  auto corpus = test::write_synthetic_corpus(dir / "corpus");
  constexpr std::int64_t kSteps = 24;
  auto config_file = dir / "killed.json";
  test::write_micro_config(config_file, corpus, dir / "killed", kSteps);
  auto config = config::Config::load(config_file, {"train.checkpoint_every=1", "train.keep_checkpoints=2"});
  config.save_resolved(config_file);

  auto root = dir / "killed/checkpoints";
  std::mt19937 rng(42);  // the kill delays; where each kill lands still varies with the machine's speed
  std::int64_t last_step = 0;
  for (int kill = 0; kill < 5; ++kill) {
    pid_t pid = start_training(config_file);
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    ::kill(pid, SIGKILL);
    wait_exit_code(pid);
    auto latest = read_latest(root);
    if (!latest) continue;  // killed before the first checkpoint was published
    auto checkpoint = load_checkpoint(*latest);
    CHECK(checkpoint.state.step >= last_step);
    last_step = checkpoint.state.step;
  }
  MESSAGE("newest checkpoint after the kills: step " << last_step);

  pid_t pid = start_training(config_file);
  REQUIRE(wait_exit_code(pid) == 0);
  auto whole_config = config::Config::load(config_file, {"train.out_dir=" + (dir / "whole").string()});
  auto whole = train(whole_config);
  CHECK(test::deterministic_records(dir / "killed/metrics.jsonl") == test::deterministic_records(whole.metrics));
  CHECK(load_checkpoint(*read_latest(root)).state.step == kSteps);
}
