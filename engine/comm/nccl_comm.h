// The NCCL side of the groups: whether this build has NCCL, a rank's own GPU, and the group over device tensors.
#pragma once

#include <memory>
#include <string>

#include "engine/comm/comm.h"

namespace diverge {

// Whether this build links NCCL (the CMake option DIVERGE_NCCL: the nvcc build of the CUDA backend).
bool nccl_built();
// "NCCL 2.28.9", the library this process loaded, or a line saying it was not built.
std::string nccl_version();
// Makes this rank's GPU the current CUDA device and returns its index: the rank's place among world's ranks on its
// host (host_place.h) modulo the devices it sees, so that ranks on one host take one GPU each. Must come before the
// process's first CUDA context (an allocation, the compute stream). Collective over world. Error without a device
// or without NCCL.
int use_local_gpu(Comm& world);
// The group of bootstrap's ranks over NCCL, for device (Device::cuda) tensors: rank 0 makes the unique id and
// bootstrap (a host group: MPI, or the single process) broadcasts it. The group keeps bootstrap for its barrier and
// its splits. Collectives run on the CUDA context's compute stream, ordered with every kernel; a host tensor is an
// Error naming it. Collective over bootstrap. Error in a build without NCCL.
std::unique_ptr<Comm> make_nccl_comm(std::unique_ptr<Comm> bootstrap);

}  // namespace diverge
