// Faults under mpirun for tests: one rank of a training job killed or stopped, and the end of every rank checked.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace diverge::test {

namespace fs = std::filesystem;

// What the issue asks of a fault: every rank gone within a minute of it.
inline constexpr auto kFaultLimit = std::chrono::seconds(60);

// An mpirun job started in the background (tests/mpirun.sh with mpirun_args), its output (every rank's, and
// mpirun's) in a file; every process of it killed if the test leaves before it ends.
class Job {
 public:
  Job(const fs::path& output, const std::string& mpirun_args);
  ~Job();
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // The ranks' processes by world rank: mpirun's children, told apart by the rank OpenMPI puts in their environment.
  std::map<int, pid_t> ranks() const;
  // mpirun's exit code, once it has ended within `limit`; nullopt (and every process of the job killed) otherwise.
  std::optional<int> wait(std::chrono::seconds limit);
  std::string output() const;

 private:
  void end_all();

  fs::path output_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Starts `command` (a diverge command line) on `ranks` ranks in the background, its output in dir/job.out; once it
// has logged two steps to `metrics`, sends `signal` to rank `victim` and checks that the job then ends, every rank
// with it, within kFaultLimit. Returns the job's exit code and output.
std::pair<int, std::string> fault_one_rank(const fs::path& dir, int ranks, const std::string& command,
                                           const fs::path& metrics, int victim, int signal);

bool says(const std::string& output, const std::string& text);

// The lines of a collective timeout: one from each rank that waited, none from the rank that never arrived.
void check_timeout_lines(const std::string& output, int ranks, int stopped);

}  // namespace diverge::test
