// The collectives' checks every Comm test runs: on buffers in one device's memory (host for the single process and
// MPI, the GPU for NCCL), against the values each rank computes for itself, at any group size.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/comm/comm.h"

namespace diverge::test {

// Each member's rank in the group it was split from (parent_rank: this rank's), in the group's order.
std::vector<std::int32_t> members(Comm& group, int parent_rank, Device device);

// Sums and maxima in f32, f64 and i32 over every rank.
void check_allreduce(Comm& group, Device device);
// reduce_scatter, allgather and broadcast place every rank's slice; a short receive buffer and a root outside the
// group are Errors.
void check_scatter_gather_broadcast(Comm& group, Device device);
// all_to_all_v delivers every row to its rank in place, zero counts and spare rows included; counts beyond the
// buffer are an Error.
void check_all_to_all_v(Comm& group, Device device);
// split groups by color (even and odd ranks), ordered by key (reversed), and reduces within each.
void check_split(Comm& group, Device device);

}  // namespace diverge::test
