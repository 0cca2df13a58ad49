// `diverge env`: what this build and machine offer (version, CUDA backend, devices, MPI, NCCL, threads).
#include <cstdio>
#include <thread>

#include "engine/comm/mpi_comm.h"
#include "engine/comm/nccl_comm.h"
#include "kernels/cuda/device_info.h"
#include "launch/command.h"

namespace diverge::cli {
namespace {

Registrar env_command(900, [](CLI::App& root) {
  auto* cmd = root.add_subcommand("env", "Print the build (version, CUDA backend, MPI, NCCL) and what this machine offers");
  cmd->callback([] {
    std::printf("diverge %s\n%s\nMPI: %s\nNCCL: %s\nCPU threads: %u\n", DIVERGE_VERSION,
                cuda::describe_backend().c_str(),
                mpi_built() ? "built in (train runs data-parallel under mpirun)" : "not built (DIVERGE_MPI=OFF)",
                nccl_version().c_str(), std::thread::hardware_concurrency());
  });
});

}  // namespace
}  // namespace diverge::cli
