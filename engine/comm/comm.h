// Comm: the one interface through which the training step talks to other ranks (allreduce, all-to-all-v, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "engine/tensor.h"

namespace diverge {

enum class ReduceOp : std::uint8_t { sum, max };

// A collective in flight (Comm::start_allreduce, start_reduce_scatter, start_all_to_all_v): its buffers are the
// collective's until wait(). On a device group wait() orders the compute stream's later work after the collective
// and returns at once; elsewhere the collective has finished by then.
class InFlight {
 public:
  virtual ~InFlight() = default;
  virtual void wait() = 0;
};

// A process group. The step asks for a role's group (engine/comm/process_groups.h: world, dp, ep, edp) and calls
// these; it never names MPI or NCCL. Implementations: single process, MPI over host buffers (mpi_comm.cpp), NCCL
// over device buffers (nccl_comm.h). Every call is collective: all ranks of the group make it, in the same order.
// Buffers are Tensors so that a device-aware group picks the transport from the tensor's device (routed_comm.h).
class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string describe() const = 0;  // e.g. "single process", "MPI 8 ranks"

  // In place over all ranks: buf (any shape) becomes the elementwise reduction.
  virtual void allreduce(const Tensor& buf, ReduceOp op) = 0;
  // send (size * n) -> recv (n): rank r gets the reduction of every rank's r-th slice. In place when recv is that
  // very slice of send (the rest of send is then undefined).
  virtual void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) = 0;
  // The same two started, to overlap the gradients' reduction with the backward: every rank starts the same ones in
  // the same order, and nothing reads or writes their buffers before wait(). A group that cannot overlap (the
  // default, and MPI: its progress needs the cores the CPU's backward uses) runs the collective at the call.
  virtual std::unique_ptr<InFlight> start_allreduce(const Tensor& buf, ReduceOp op);
  virtual std::unique_ptr<InFlight> start_reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op);
  // send (n) -> recv (size * n): rank r's send lands in slice r of everyone's recv. In place when send is that
  // very slice of recv.
  virtual void allgather(const Tensor& send, const Tensor& recv) = 0;
  // Variable all-to-all over the first dimension: send_counts[r] rows go to rank r, recv_counts[r] rows come from
  // rank r; rows are laid out in rank order on both sides. This is how tokens travel to their experts.
  virtual void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                            std::span<const std::int64_t> recv_counts) = 0;
  // The same started, to run the shared experts while the rows travel (the counts are read at the call).
  virtual std::unique_ptr<InFlight> start_all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts,
                                                       const Tensor& recv, std::span<const std::int64_t> recv_counts);
  // buf (any shape) takes root's values on every rank.
  virtual void broadcast(const Tensor& buf, int root) = 0;
  virtual void barrier() = 0;
  // The sub-group of the ranks that pass the same color, ordered by key (ties by rank): how role groups are cut
  // from the world. Collective over this group.
  virtual std::unique_ptr<Comm> split(int color, int key) = 0;
};

// The group of one: every collective is the identity (or a copy), so single-process training runs the same step
// code as a distributed one.
std::unique_ptr<Comm> make_single_process_comm();

}  // namespace diverge
