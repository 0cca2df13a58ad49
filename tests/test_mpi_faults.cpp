// Faults under mpirun: a killed rank and a stopped (hung) rank end every rank within a minute with a line naming a
// rank, and a non-finite loss or gradient on one rank stops every rank at the same step, as the guard does alone.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/files.h"
#include "engine/training/metrics.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

using namespace diverge;

namespace {

using Clock = std::chrono::steady_clock;

// What the issue asks of a fault: every rank gone within a minute of it.
constexpr auto kFaultLimit = std::chrono::seconds(60);

// An mpirun job of `diverge train` started in the background, its output (every rank's, and mpirun's) in a file.
class Job {
 public:
  Job(const fs::path& output, const std::string& mpirun_args) : output_(output) {
    const std::string command = "exec " + test::source_path("tests/mpirun.sh").string() + " " + mpirun_args;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own process group, so that a test that fails can end the ranks with it
      const int log = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
      ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Job() {
    if (!exit_code_) end_all();
  }
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // The ranks' processes by world rank: mpirun's children, told apart by the rank OpenMPI puts in their environment.
  std::map<int, pid_t> ranks() const {
    std::map<int, pid_t> found;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      const std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      const std::string stat = read_file_or_empty(entry.path() / "stat");
      const auto after_name = stat.rfind(") ");
      if (after_name == std::string::npos) continue;
      int parent = 0;
      if (std::sscanf(stat.c_str() + after_name + 2, "%*c %d", &parent) != 1 || parent != pid_) continue;
      const std::string environment = read_file_or_empty(entry.path() / "environ");
      const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
      const auto at = environment.find(key);
      if (at != std::string::npos) found[std::atoi(environment.c_str() + at + key.size())] = std::stoi(name);
    }
    return found;
  }

  // mpirun's exit code, once it has ended within `limit`; nullopt (and every process of the job killed) otherwise.
  std::optional<int> wait(std::chrono::seconds limit) {
    const auto deadline = Clock::now() + limit;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_code_;
  }

  std::string output() const { return read_file_or_empty(output_); }

 private:
  static std::string read_file_or_empty(const fs::path& file) {
    try {
      return read_file(file);
    } catch (const std::exception&) {
      return "";  // a process that ended while we looked
    }
  }

  void end_all() {
    for (const auto& [rank, pid] : ranks()) ::kill(pid, SIGKILL);
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  fs::path output_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat) and whether it is a zombie;
// nullopt once it is gone.
struct ProcessState {
  unsigned long long start = 0;
  bool zombie = false;
};

std::optional<ProcessState> process_state(pid_t pid) {
  std::string stat;
  try {
    stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const auto after_name = stat.rfind(") ");
  ProcessState state;
  char code = 0;
  // Fields 3 (state) to 22 (starttime), after the name.
  constexpr const char* kStateToStart =
      "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu";
  if (after_name == std::string::npos ||
      std::sscanf(stat.c_str() + after_name + 2, kStateToStart, &code, &state.start) != 2)
    return std::nullopt;
  state.zombie = code == 'Z';
  return state;
}

// Whether the process that had `pid` when it started at `start` still runs: a zombie that nobody has reaped yet
// counts as ended, and so does a process that took over the pid since (on a busy machine pids come round again
// within seconds).
bool running(pid_t pid, unsigned long long start) {
  const std::optional<ProcessState> state = process_state(pid);
  return state && state->start == start && !state->zombie;
}

// Every rank must be gone by the deadline. mpirun may exit while a rank it signalled is still on its way out
// (a loaded machine schedules it late), so each is given until then, not checked once.
void check_ranks_ended(const std::map<int, pid_t>& pids, const std::map<int, unsigned long long>& starts,
                       Clock::time_point deadline) {
  for (const auto& [rank, pid] : pids) {
    const unsigned long long start = starts.at(rank);
    while (running(pid, start) && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK_MESSAGE(!running(pid, start), "rank ", rank, " still runs");
  }
}

// Waits until the run has logged `steps` training steps (it is inside its training loop), at most two minutes.
void wait_for_training(const Job& job, const fs::path& metrics, std::int64_t steps) {
  const auto deadline = Clock::now() + std::chrono::minutes(2);
  while (test::last_logged_step(metrics) < steps && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_MESSAGE(test::last_logged_step(metrics) >= steps, job.output());
}

// The micro config of a run that only a fault ends, in dir/micro.json, writing to dir/run.
fs::path endless_config(const test::ScratchDir& dir) {
  const fs::path corpus = test::write_synthetic_corpus(dir / "corpus");
  test::write_micro_config(dir / "micro.json", corpus, dir / "run", 100000);
  return dir / "micro.json";
}

std::string train_args(const fs::path& config, const std::string& settings = "") {
  return std::string(DIVERGE_BINARY) + " train --config " + config.string() + settings;
}

// Starts `ranks` ranks training without end, sends `signal` to rank `victim` once they train, and checks that the
// job then ends, every rank with it, within the fault limit. Returns the job's exit code and output.
std::pair<int, std::string> fault_one_rank(const test::ScratchDir& dir, int ranks, int victim, int signal,
                                           const std::string& settings) {
  Job job(dir / "job.out", std::to_string(ranks) + " " + train_args(endless_config(dir), settings));
  wait_for_training(job, dir / "run/metrics.jsonl", 2);
  const std::map<int, pid_t> pids = job.ranks();
  REQUIRE(pids.size() == static_cast<std::size_t>(ranks));
  std::map<int, unsigned long long> starts;
  for (const auto& [rank, pid] : pids) {
    const std::optional<ProcessState> state = process_state(pid);
    REQUIRE_MESSAGE(state.has_value(), "rank ", rank, " ended before the fault:\n", job.output());
    starts[rank] = state->start;
    CHECK_MESSAGE(running(pid, state->start), "rank ", rank, " is not seen running before the fault");
  }
  ::kill(pids.at(victim), signal);
  const auto faulted = Clock::now();
  const std::optional<int> code = job.wait(kFaultLimit);
  REQUIRE_MESSAGE(code.has_value(), "the job still ran a minute after the fault:\n", job.output());
  MESSAGE("every rank ended " << std::chrono::duration<double>(Clock::now() - faulted).count()
                              << " s after the fault");
  check_ranks_ended(pids, starts, faulted + kFaultLimit);
  return {*code, job.output()};
}

bool says(const std::string& output, const std::string& text) { return output.find(text) != std::string::npos; }

// The lines of a collective timeout: one from each rank that waited, none from the rank that never arrived.
void check_timeout_lines(const std::string& output, int ranks, int stopped) {
  CHECK_MESSAGE(says(output, "parallel.timeout_s"), output);
  int waiting = 0;
  for (int rank = 0; rank < ranks; ++rank)
    if (says(output, "error: rank " + std::to_string(rank) + ": waited ")) {
      CHECK_MESSAGE(rank != stopped, "the stopped rank cannot have waited:\n", output);
      ++waiting;
    }
  CHECK_MESSAGE(waiting >= 1, output);
}

}  // namespace

TEST_CASE("mpi faults: a killed rank ends every rank within a minute, and mpirun names it") {
  if (!test::mpi_ready()) return;
  for (const auto& [ranks, victim] : {std::pair{2, 1}, std::pair{4, 0}}) {
    CAPTURE(ranks);
    test::ScratchDir dir("mpi-faults-kill");
    const auto [code, output] = fault_one_rank(dir, ranks, victim, SIGKILL, "");
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
    const auto [code, output] = fault_one_rank(dir, ranks, victim, SIGSTOP, " --set parallel.timeout_s=3");
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
