// The world: the launcher's environment decides between the MPI group and the single process.
#include "engine/comm/world.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "engine/comm/mpi_comm.h"
#include "engine/error.h"

namespace diverge {
namespace {

// The first of these variables the environment holds: OpenMPI's mpirun, then PMIx and PMI-1/2 launchers.
const char* launcher_variable(const char* const* names) {
  for (const char* const* name = names; *name != nullptr; ++name)
    if (const char* value = std::getenv(*name)) return value;
  return nullptr;
}

constexpr const char* kSizeVariables[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", nullptr};
constexpr const char* kRankVariables[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", nullptr};

std::unique_ptr<Comm>& world_slot() {
  static std::unique_ptr<Comm> world;
  return world;
}

}  // namespace

bool launched_by_mpi() {
  return launcher_variable(kSizeVariables) != nullptr || launcher_variable(kRankVariables) != nullptr;
}

int world_rank() {
  const char* rank = launcher_variable(kRankVariables);
  return rank == nullptr ? 0 : std::atoi(rank);
}

Comm& world_comm() {
  std::unique_ptr<Comm>& world = world_slot();
  if (world) return *world;
  if (!launched_by_mpi()) {
    world = make_single_process_comm();
  } else {
    check(mpi_built(), "world",
          "a launcher started this process as rank " + std::to_string(world_rank()) +
              " of a parallel job, but this diverge was built without MPI (configure with -DDIVERGE_MPI=ON and "
              "install libopenmpi-dev)");
    world = make_mpi_world_comm();
  }
  return *world;
}

void abort_world(int code) { abort_mpi(code); }

}  // namespace diverge
