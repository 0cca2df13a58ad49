// The Comm interface's started collectives where a group cannot overlap them: the collective at the call.
#include "engine/comm/comm.h"

namespace diverge {
namespace {

class Finished final : public InFlight {
 public:
  void wait() override {}
};

}  // namespace

std::unique_ptr<InFlight> Comm::start_allreduce(const Tensor& buf, ReduceOp op) {
  allreduce(buf, op);
  return std::make_unique<Finished>();
}

std::unique_ptr<InFlight> Comm::start_reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) {
  reduce_scatter(send, recv, op);
  return std::make_unique<Finished>();
}

std::unique_ptr<InFlight> Comm::start_all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts,
                                                   const Tensor& recv, std::span<const std::int64_t> recv_counts) {
  all_to_all_v(send, send_counts, recv, recv_counts);
  return std::make_unique<Finished>();
}

}  // namespace diverge
