// Helpers shared by tests: scratch directories and running the CLI, alone or as MPI ranks.
#include "tests/support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <random>

#include "engine/comm/mpi_comm.h"

namespace diverge::test {

ScratchDir::ScratchDir(const std::string& name) {
  std::random_device rd;
  path_ = fs::temp_directory_path() / ("diverge-test-" + name + "-" + std::to_string(::getpid()) + "-" +
                                       std::to_string(rd() % 1000000));
  fs::remove_all(path_);
  fs::create_directories(path_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

CommandResult run_diverge(const std::string& args) { return run_command(std::string(DIVERGE_BINARY) + " " + args); }

bool mpi_ready() {
  if (!mpi_built()) {
    std::printf("skipped: this build has no MPI (DIVERGE_MPI=OFF)\n");
    return false;
  }
  if (run_command("command -v mpirun").exit_code != 0) {
    std::printf("skipped: mpirun not found (apt-get install openmpi-bin)\n");
    return false;
  }
  return true;
}

CommandResult run_diverge_ranks(int ranks, const std::string& args, int timeout_s) {
  return run_command("timeout " + std::to_string(timeout_s) + " " + source_path("tests/mpirun.sh").string() + " " + std::to_string(ranks) + " " +
                     DIVERGE_BINARY + " " + args);
}

CommandResult run_command(const std::string& command) {
  std::string cmd = command + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return {code, out};
}

}  // namespace diverge::test
