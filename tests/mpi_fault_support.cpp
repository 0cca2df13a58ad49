// Faults under mpirun: a job started in the background, a signal to one of its ranks, and every rank's end.
#include "tests/mpi_fault_support.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <thread>

#include "engine/files.h"
#include "tests/support.h"
#include "tests/trainer_support.h"

namespace diverge::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string read_file_or_empty(const fs::path& file) {
  try {
    return read_file(file);
  } catch (const std::exception&) {
    return "";  // a process that ended while we looked
  }
}

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
  while (last_logged_step(metrics) < steps && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE_MESSAGE(last_logged_step(metrics) >= steps, job.output());
}

}  // namespace

Job::Job(const fs::path& output, const std::string& mpirun_args) : output_(output) {
  const std::string command = "exec " + source_path("tests/mpirun.sh").string() + " " + mpirun_args;
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

Job::~Job() {
  if (!exit_code_) end_all();
}

std::map<int, pid_t> Job::ranks() const {
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

std::optional<int> Job::wait(std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

std::string Job::output() const { return read_file_or_empty(output_); }

void Job::end_all() {
  for (const auto& [rank, pid] : ranks()) ::kill(pid, SIGKILL);
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::pair<int, std::string> fault_one_rank(const fs::path& dir, int ranks, const std::string& command,
                                           const fs::path& metrics, int victim, int signal) {
  Job job(dir / "job.out", std::to_string(ranks) + " " + command);
  wait_for_training(job, metrics, 2);
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

}  // namespace diverge::test
