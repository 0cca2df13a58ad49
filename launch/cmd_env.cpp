// `diverge env`: what this build and machine offer (version, CUDA backend, devices, BLAS threads).
#include <cstdio>
#include <thread>

#include "kernels/cuda/device_info.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

Registrar env_command(900, [](CLI::App& root) {
  auto* cmd = root.add_subcommand("env", "Print the build (version, CUDA backend) and what this machine offers");
  cmd->callback([] {
    std::printf("diverge %s\n%s\nCPU threads: %u\n", DIVERGE_VERSION, cuda::describe_backend().c_str(),
                std::thread::hardware_concurrency());
  });
});

}  // namespace
}  // namespace diverge::cli
