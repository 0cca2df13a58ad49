// How much memory this process may use: the machine's physical memory, or less under a cgroup limit.
#pragma once

#include <cstddef>

namespace diverge {

// The smaller of physical memory and the process's cgroup memory limit (v2 memory.max or v1
// memory.limit_in_bytes), in bytes. Container and batch-scheduler limits are cgroup limits, and exceeding them
// gets a process killed without a message, so a run checks its plan against this before it allocates.
std::size_t host_memory_limit();

}  // namespace diverge
