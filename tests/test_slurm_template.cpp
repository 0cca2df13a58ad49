// Tests the SLURM batch template (launch/slurm-train.sbatch) as SLURM would run it: a warning signal to the batch
// script checkpoints every rank's step and requeues the job.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/files.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

using Clock = std::chrono::steady_clock;

// The environment SLURM gives a batch script of a 2-task job, with a stand-in scontrol on the PATH and OpenMPI
// allowed to run as root and oversubscribe (the CI machine has 2 cores).
void set_job_environment(const test::ScratchDir& dir, const fs::path& config) {
  const std::string path = (dir / "bin").string() + ":" + std::getenv("PATH");
  const std::pair<const char*, std::string> variables[] = {
      {"PATH", path},
      {"SLURM_NTASKS", "2"},
      {"SLURM_CPUS_PER_TASK", "1"},
      {"SLURM_JOB_ID", "4242"},
      {"CONFIG", config.string()},
      {"OUT", (dir / "run").string()},
      {"DIVERGE_BIN", DIVERGE_BINARY},
      {"OMPI_ALLOW_RUN_AS_ROOT", "1"},
      {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
      {"OMPI_MCA_rmaps_base_oversubscribe", "1"},
  };
  for (const auto& [name, value] : variables) ::setenv(name, value.c_str(), 1);
}

pid_t start_batch_script(const test::ScratchDir& dir, const fs::path& config) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    set_job_environment(dir, config);
    const int log = ::open((dir / "job.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    const std::string script = test::source_path("launch/slurm-train.sbatch").string();
    ::execl("/bin/bash", "bash", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// The exit code of pid, or -1 if it has not ended within `limit` (it is then killed).
int exit_code_within(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("slurm template: the warning signal checkpoints the step on every rank, then the job requeues itself") {
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) {
    MESSAGE("skipped: mpirun not found");
    return;
  }
  test::ScratchDir dir("slurm-template");
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  // Far more steps than the test waits for: only the signal ends the run.
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", 100000);
  fs::create_directories(dir / "bin");
  write_file_atomic(dir / "bin/scontrol", "#!/bin/sh\necho \"$@\" >> '" + (dir / "scontrol.log").string() + "'\n");
  ::chmod((dir / "bin/scontrol").c_str(), 0755);

  const pid_t job = start_batch_script(dir, dir / "micro.json");
  const fs::path metrics = dir / "run/metrics.jsonl";
  const auto deadline = Clock::now() + std::chrono::seconds(90);
  while (test::last_logged_step(metrics) < 6 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_MESSAGE(test::last_logged_step(metrics) >= 6, read_file(dir / "job.out"));
  ::kill(job, SIGUSR1);

  const int code = exit_code_within(job, std::chrono::seconds(90));
  const std::string output = read_file(dir / "job.out");
  CHECK_MESSAGE(code == 0, output);
  REQUIRE(fs::exists(dir / "scontrol.log"));
  CHECK(read_file(dir / "scontrol.log") == "requeue 4242\n");
  // The ranks stopped after one step, all of them: the checkpoint is of the last step the log holds.
  const auto latest = read_latest(dir / "run/checkpoints");
  REQUIRE(latest.has_value());
  CHECK(load_checkpoint(*latest).state.step == test::last_logged_step(metrics));
  CHECK(output.find("requeueing job 4242") != std::string::npos);
}
