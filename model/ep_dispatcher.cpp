// Expert-parallel dispatch: counts gathered over the group, rows exchanged by all-to-all-v, re-sorted by local expert.
#include "model/ep_dispatcher.h"

#include <algorithm>
#include <string>
#include <vector>

#include "engine/device_memory.h"
#include "engine/error.h"

namespace diverge::model {
namespace {

constexpr const char* kWhere = "expert parallelism";

// The rows this rank sends to and receives from each rank of the group, from every rank's counts.
struct ExchangeCounts {
  std::vector<std::int64_t> send;  // (P)
  std::vector<std::int64_t> recv;  // (P)
  std::int64_t arrived = 0;        // the sum of recv
};

// Expert e of rank s's counts: all_counts (P, E).
std::int64_t routed(const EpActs& acts, std::int64_t sender, std::int64_t expert) {
  return acts.all_counts.i32()[sender * acts.all_counts.dim(1) + expert];
}

ExchangeCounts exchange_counts(const Comm& group, const EpActs& acts) {
  const std::int64_t ranks = acts.all_counts.dim(0), local = acts.local.counts.dim(0), me = group.rank();
  ExchangeCounts c{std::vector<std::int64_t>(static_cast<std::size_t>(ranks), 0),
                   std::vector<std::int64_t>(static_cast<std::size_t>(ranks), 0)};
  for (std::int64_t q = 0; q < ranks; ++q)
    for (std::int64_t e = 0; e < local; ++e) {
      c.send[static_cast<std::size_t>(q)] += routed(acts, me, q * local + e);
      c.recv[static_cast<std::size_t>(q)] += routed(acts, q, me * local + e);
    }
  for (const std::int64_t rows : c.recv) c.arrived += rows;
  return c;
}

// acts.local cut to the rows that arrived in the last pass.
ops::RoutePlan arrived_plan(const Comm& group, const EpActs& acts) {
  const std::int64_t arrived = exchange_counts(group, acts).arrived;
  return {acts.local.counts, acts.local.offsets, acts.local.row_of_copy.slice_rows(0, arrived),
          acts.local.copy_of_row.slice_rows(0, arrived)};
}

}  // namespace

EpActs allocate_ep_dispatch(Buffers& buffers, const Dims& d) {
  const std::int64_t rows = d.expert_rows;
  EpActs a;
  a.all_counts = buffers.host(DType::i32, {d.ep, d.experts});
  a.arrival_experts = buffers.host(DType::i32, {rows});
  a.expert_of_row = buffers.i32({rows, 1});
  a.local.counts = buffers.i32({d.local_experts});
  a.local.offsets = buffers.i32({d.local_experts + 1});
  a.local.row_of_copy = buffers.i32({rows, 1});
  a.local.copy_of_row = buffers.i32({rows});
  a.arrivals = buffers.act({rows, d.model});
  a.staging = buffers.act({rows, d.model});
  a.returned = buffers.act({d.routed_rows(), d.model});
  return a;
}

std::int64_t plan_exchange(Comm& group, const Tensor& counts, const EpActs& acts) {
  check(acts.all_counts.dim(0) == group.size(), kWhere,
        "planned for " + std::to_string(acts.all_counts.dim(0)) + " ranks, the group has " +
            std::to_string(group.size()));
  const Tensor mine = acts.all_counts.slice_rows(group.rank(), group.rank() + 1).reshape({counts.numel()});
  copy_tensor(counts, mine);
  group.allgather(mine, acts.all_counts);
  const ExchangeCounts c = exchange_counts(group, acts);
  const std::int64_t planned = acts.arrivals.dim(0);
  check(c.arrived <= planned, "parallel.ep_capacity",
        "rank " + std::to_string(group.rank()) + "'s experts receive " + std::to_string(c.arrived) +
            " rows in this pass, " + std::to_string(planned) +
            " are planned; raise parallel.ep_capacity (0 plans for the most possible, parallel.ep times the rows "
            "of a rank's own tokens)");
  const std::int64_t local = acts.local.counts.dim(0), me = group.rank();
  std::int32_t* expert_of_row = acts.arrival_experts.i32();
  for (std::int64_t s = 0; s < group.size(); ++s)
    for (std::int64_t e = 0; e < local; ++e)
      expert_of_row = std::fill_n(expert_of_row, routed(acts, s, me * local + e), static_cast<std::int32_t>(e));
  const Tensor arrivals = acts.expert_of_row.slice_rows(0, c.arrived);
  copy_tensor(acts.arrival_experts.slice_rows(0, c.arrived), arrivals.reshape({c.arrived}));
  ops::route_plan(arrivals, arrived_plan(group, acts));
  return c.arrived;
}

std::int64_t arrived_rows(const Comm& group, const EpActs& acts) { return exchange_counts(group, acts).arrived; }

std::unique_ptr<InFlight> start_send_to_experts(Comm& group, const Tensor& home, const EpActs& acts,
                                                const Tensor& landing) {
  const ExchangeCounts c = exchange_counts(group, acts);
  return group.start_all_to_all_v(home, c.send, landing.slice_rows(0, c.arrived), c.recv);
}

void group_arrivals(const Comm& group, const EpActs& acts, const Tensor& landing, const Tensor& local) {
  const ops::RoutePlan plan = arrived_plan(group, acts);
  ops::dispatch(landing.slice_rows(0, plan.copy_of_row.dim(0)), plan, local);
}

void send_to_experts(Comm& group, const Tensor& home, const EpActs& acts, const Tensor& local) {
  start_send_to_experts(group, home, acts, acts.arrivals)->wait();
  group_arrivals(group, acts, acts.arrivals, local);
}

ops::ExpertInput arrived_input(const Comm& group, const EpActs& acts) {
  const ops::RoutePlan plan = arrived_plan(group, acts);
  return ops::ExpertInput::gathered(acts.arrivals.slice_rows(0, plan.copy_of_row.dim(0)), plan);
}

std::unique_ptr<InFlight> start_return_from_experts(Comm& group, const Tensor& local, const EpActs& acts,
                                                    const Tensor& home) {
  const ExchangeCounts c = exchange_counts(group, acts);
  const Tensor staged = acts.staging.slice_rows(0, c.arrived);
  // With one copy per arrival, the dispatcher's backward is the inverse permutation: staged[i] = local[row of i].
  ops::dispatch_backward(local, arrived_plan(group, acts), staged);
  return group.start_all_to_all_v(staged, c.recv, home, c.send);
}

void return_from_experts(Comm& group, const Tensor& local, const EpActs& acts, const Tensor& home) {
  start_return_from_experts(group, local, acts, home)->wait();
}

}  // namespace diverge::model
