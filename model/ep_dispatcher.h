// Expert parallelism: a rank's routed rows travel to the ranks holding their experts (all-to-all-v) and back.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/buffers.h"
#include "engine/comm/comm.h"
#include "kernels/ops.h"
#include "model/dims.h"

namespace diverge::model {

// The P ranks of an expert-parallel group hold E / P experts each: rank q the global experts [q * E / P, ...).
// A rank's grouped rows (its own N * k copies, sorted by global expert: the dispatcher's) are therefore already in
// rank order, so they go out as they are; they arrive by sender, each sender's rows by expert, and are sorted
// once more by local expert (stable, so within an expert: by sender, then by the sender's order) for the experts,
// which read the arrivals through that plan as they load them (their gather): the forward's arrivals are never
// copied, and stay where they landed for the backward. The way back undoes both steps. Dropless: the arrivals may
// be any number up to Dims::expert_rows, the planned bound (parallel.ep_capacity); a pass that brings more is an
// error naming that key. On any device: the rows move over the group's transport for their device (MPI for host
// tensors, NCCL for device ones), while the counts, which size the exchange, are read back to the host once per
// layer and pass (the one synchronisation, as in every dropless dispatcher).
struct EpActs {
  Tensor all_counts;       // (P, E) i32 on the host: every rank's routed rows per global expert in the last pass
  Tensor arrival_experts;  // (R) i32 on the host: the local expert of each arrival, on its way to expert_of_row
  Tensor expert_of_row;    // (R, 1) i32: the local expert of each arrival, R = Dims::expert_rows
  ops::RoutePlan local;  // the arrivals sorted by local expert: counts (E / P), offsets (E / P + 1), (R, 1), (R)
  Tensor arrivals;       // (R, C): the forward's rows as the exchange delivers them, kept for the backward
  Tensor staging;        // (R, C): every other way's rows: outputs going back, gradients arriving and going back
  Tensor returned;       // (N * k, C): the expert outputs back home, in the order of the rank's grouped rows
};

// Host tensors through buffers.host(): a buffers on a device arena needs its host arena.
EpActs allocate_ep_dispatch(Buffers& buffers, const Dims& d);

// Collective over group (P ranks): gathers every rank's routed counts (E) i32 and plans the arrivals by local
// expert. Returns how many rows arrive (the rows of acts.local); error naming parallel.ep_capacity when more than R.
std::int64_t plan_exchange(Comm& group, const Tensor& counts, const EpActs& acts);
// Collective: home (N * k, C), grouped by global expert -> local (arrived rows, C), grouped by local expert, by way
// of acts.arrivals.
void send_to_experts(Comm& group, const Tensor& home, const EpActs& acts, const Tensor& local);
// Collective, the reverse: local (arrived rows, C) grouped by local expert -> home (N * k, C), rows where they were.
void return_from_experts(Comm& group, const Tensor& local, const EpActs& acts, const Tensor& home);

// The same two started, so that other work (the shared experts) runs while the rows travel. send_to_experts is
// start_send_to_experts into acts.arrivals, its wait(), then group_arrivals from there; return_from_experts is
// start_return_from_experts and its wait(). The rows land in `landing` (acts.arrivals or acts.staging), which with
// home is the exchange's until the wait; the way back goes through acts.staging.
std::unique_ptr<InFlight> start_send_to_experts(Comm& group, const Tensor& home, const EpActs& acts,
                                                const Tensor& landing);
void group_arrivals(const Comm& group, const EpActs& acts, const Tensor& landing, const Tensor& local);
std::unique_ptr<InFlight> start_return_from_experts(Comm& group, const Tensor& local, const EpActs& acts,
                                                    const Tensor& home);
// The forward's arrivals as the local experts read them: acts.arrivals through the local plan.
ops::ExpertInput arrived_input(const Comm& group, const EpActs& acts);
// The rows that arrived in the last pass (plan_exchange's count).
std::int64_t arrived_rows(const Comm& group, const EpActs& acts);

}  // namespace diverge::model
