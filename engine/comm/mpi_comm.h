// The MPI side of the world: whether this build has MPI, the world group over MPI, and ending every rank at once.
#pragma once

#include <memory>

#include "engine/comm/comm.h"

namespace diverge {

// Whether this build links MPI (the CMake option DIVERGE_MPI).
bool mpi_built();
// The group of every rank the launcher started, over MPI for host tensors. Initialises MPI (once per process) and
// finalises it when the process exits. Error in a build without MPI.
std::unique_ptr<Comm> make_mpi_world_comm();
// MPI_Abort over every rank with this exit code, when MPI is running; returns at once otherwise.
void abort_mpi(int code);

}  // namespace diverge
