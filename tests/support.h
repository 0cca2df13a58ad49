// Helpers shared by tests: source-tree paths, scratch directories, running the CLI and capturing its output.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace diverge::test {

namespace fs = std::filesystem;

// A path inside the source tree, e.g. source_path("tests/tokenizer/vectors.json"). The environment's
// DIVERGE_SOURCE_DIR wins over the tree the binary was built from: a build carried to another machine's checkout.
inline fs::path source_path(const std::string& relative) {
  const char* carried = std::getenv("DIVERGE_SOURCE_DIR");
  return fs::path(carried != nullptr ? carried : DIVERGE_SOURCE_DIR) / relative;
}

// A fresh empty directory under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  fs::path path_;
};

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs the built `diverge` binary with the given argument string (shell-quoted by the caller).
CommandResult run_diverge(const std::string& args);

// Runs a shell command line (quoted by the caller).
CommandResult run_command(const std::string& command);

// Whether this build and host can start MPI ranks (MPI built in, mpirun on the PATH); when not, prints one
// "skipped: ..." line saying why (CTest's skip pattern for the mpi tests).
bool mpi_ready();

// The built `diverge` with args as `ranks` MPI ranks on this host (tests/mpirun.sh), ended after timeout_s whatever
// happens.
CommandResult run_diverge_ranks(int ranks, const std::string& args, int timeout_s = 120);

}  // namespace diverge::test
