// The world this process trains in: every rank a launcher (mpirun, srun) started, or this process alone.
#pragma once

#include "engine/comm/comm.h"

namespace diverge {

// Whether a launcher started this process as a rank of a parallel job: read from the variables OpenMPI's mpirun
// and PMI launchers (MPICH, Slurm's srun) set, before any MPI call.
bool launched_by_mpi();
// This process's rank in the world, 0 outside a launcher; read from the launcher's variables, so that an error
// message can name the rank before the world exists.
int world_rank();
// The group of every rank: over MPI when a launcher started this process (MPI initialised on the first call,
// finalised at exit), else the single process. Error when a launcher started ranks and this build has no MPI.
Comm& world_comm();
// Ends every rank of a running MPI world with this exit code, so that one rank's error never leaves the others
// waiting in a collective; returns at once when there is no MPI world.
void abort_world(int code);

}  // namespace diverge
