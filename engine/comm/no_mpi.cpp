// The MPI side of the world in a build without MPI (DIVERGE_MPI=OFF): nothing runs, a world over MPI is an Error.
#include "engine/comm/mpi_comm.h"
#include "engine/error.h"

namespace diverge {

bool mpi_built() { return false; }

std::unique_ptr<Comm> make_mpi_world_comm() {
  throw Error("world", "this diverge was built without MPI (configure with -DDIVERGE_MPI=ON)");
}

void abort_mpi(int) {}

}  // namespace diverge
