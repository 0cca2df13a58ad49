// The `diverge` CLI entry point: builds the CLI11 app from the registered subcommands and maps errors to one line.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>

#include "engine/comm/world.h"
#include "engine/error.h"
#include "kernels/cuda/device_info.h"
#include "launch/command.h"
#include "launch/exit_codes.h"

namespace diverge::cli {

std::vector<RegisteredCommand>& registered_commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

std::string& command_line() {
  static std::string line;
  return line;
}

}  // namespace diverge::cli

namespace {

std::string version_text() {
  return std::string("diverge ") + DIVERGE_VERSION + "\n" + diverge::cuda::describe_backend() + "\n";
}

// OpenMP threads that spin between parallel loops steal the cores OpenBLAS's own threads need for the GEMMs in
// between (measured: 2-thread training ran 4x faster with passive waits). libgomp reads OMP_WAIT_POLICY when it
// loads, before main, so the process starts itself again with it set; a user's own setting is left alone.
void prefer_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure: then run on with libgomp's default
}

// Under a launcher, an error names the rank it happened on.
std::string rank_prefix() {
  return diverge::launched_by_mpi() ? "rank " + std::to_string(diverge::world_rank()) + ": " : "";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace diverge;
  prefer_passive_openmp_waits(argv);
  for (int i = 0; i < argc; ++i) cli::command_line() += (i > 0 ? " " : "") + std::string(argv[i]);
  CLI::App app{
      "Diverge: a Mixture-of-Experts pre-training engine with Expert Divergence Learning.\n"
      "Typical flow: `diverge prepare` turns JSONL documents into domain-tagged shards, `diverge data inspect`\n"
      "shows what a corpus holds, and training reads the shards. Run `diverge <command> --help` for details.",
      "diverge"};
  // A callback: the text probes the device, which must not make a CUDA context before a rank picks its GPU.
  app.set_version_flag("--version", std::function<std::string()>(version_text));
  app.require_subcommand(1);
  auto& commands = cli::registered_commands();
  std::stable_sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& command : commands) command.setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here too, with exit code 0; every real parse error is a usage error.
    return app.exit(e) == 0 ? cli::kExitDone : cli::kExitUsage;
  } catch (const cli::CommandExit& e) {
    // Every rank reaches the same exit (a usage error, or a stop all ranks agreed on): rank 0 says it for all.
    std::fflush(stdout);
    if (!e.message.empty() && world_rank() == 0) std::fprintf(stderr, "%s\n", e.message.c_str());
    return e.code;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s%s\n", rank_prefix().c_str(), e.what());
    std::fflush(stderr);
    abort_world(cli::kExitError);  // an error on one rank ends them all: none is left waiting in a collective
    return cli::kExitError;
  }
  return cli::kExitDone;
}
