// Where a rank sits among the ranks of its host: what picks its GPU when several ranks share a machine.
#pragma once

#include "engine/comm/comm.h"

namespace diverge {

struct HostPlace {
  int rank = 0;   // how many ranks of the group on this host come before this one
  int ranks = 1;  // the group's ranks on this host
};

// The group split by host name, as OpenMPI's OMPI_COMM_WORLD_LOCAL_RANK counts the world, but under any launcher.
// Collective over group.
HostPlace host_place(Comm& group);

}  // namespace diverge
