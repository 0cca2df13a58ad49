// A group over two transports that sends each tensor where it lives: host tensors over MPI, device tensors over NCCL.
#pragma once

#include <memory>

#include "engine/comm/comm.h"

namespace diverge {

// One group of ranks whose collectives go over `host` for host tensors and over `device` for device tensors; both
// hold the same ranks in the same order. Its barrier is the host group's; split splits both.
std::unique_ptr<Comm> make_routed_comm(std::unique_ptr<Comm> host, std::unique_ptr<Comm> device);

// The world of a run on GPUs: on more than one rank, binds this rank to its GPU (use_local_gpu) and routes host
// tensors over a copy of world and device tensors over an NCCL group of world's ranks; a world of one needs no
// transport and is the single process. Collective over world, before the process's first CUDA context.
std::unique_ptr<Comm> make_device_world(Comm& world);

}  // namespace diverge
