// WatchedComm: forwards every collective to the group it wraps, marked for the collective watchdog.
#include "engine/comm/watched_comm.h"

#include "engine/comm/collective_watchdog.h"

namespace diverge {
namespace {

class WatchedInFlight final : public InFlight {
 public:
  WatchedInFlight(std::unique_ptr<InFlight> inner, const char* op, WatchedGroup& group)
      : inner_(std::move(inner)), op_(op), group_(group) {}
  void wait() override {
    const WatchedCollective mark(op_, group_);
    inner_->wait();
  }

 private:
  std::unique_ptr<InFlight> inner_;
  const char* op_;
  WatchedGroup& group_;
};

class WatchedComm final : public Comm {
 public:
  WatchedComm(std::unique_ptr<Comm> owned, Comm& inner, const std::string& role)
      : owned_(std::move(owned)), inner_(inner), role_(role) {
    group_.label = role + " (" + std::to_string(inner_.size()) + " ranks)";
  }

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  std::string describe() const override { return inner_.describe(); }

  void allreduce(const Tensor& buf, ReduceOp op) override {
    const WatchedCollective mark("allreduce", group_);
    inner_.allreduce(buf, op);
  }
  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    const WatchedCollective mark("reduce_scatter", group_);
    inner_.reduce_scatter(send, recv, op);
  }
  // A started collective is watched while it starts and while it is waited for. On a device group neither blocks
  // the host, which meets a hung peer later, in a wait for the device (watched by the CUDA context).
  std::unique_ptr<InFlight> start_allreduce(const Tensor& buf, ReduceOp op) override {
    const WatchedCollective mark("allreduce", group_);
    return std::make_unique<WatchedInFlight>(inner_.start_allreduce(buf, op), "allreduce", group_);
  }
  std::unique_ptr<InFlight> start_reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    const WatchedCollective mark("reduce_scatter", group_);
    return std::make_unique<WatchedInFlight>(inner_.start_reduce_scatter(send, recv, op), "reduce_scatter", group_);
  }
  void allgather(const Tensor& send, const Tensor& recv) override {
    const WatchedCollective mark("allgather", group_);
    inner_.allgather(send, recv);
  }
  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    const WatchedCollective mark("all_to_all_v", group_);
    inner_.all_to_all_v(send, send_counts, recv, recv_counts);
  }
  std::unique_ptr<InFlight> start_all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts,
                                               const Tensor& recv, std::span<const std::int64_t> recv_counts) override {
    const WatchedCollective mark("all_to_all_v", group_);
    return std::make_unique<WatchedInFlight>(inner_.start_all_to_all_v(send, send_counts, recv, recv_counts),
                                             "all_to_all_v", group_);
  }
  void broadcast(const Tensor& buf, int root) override {
    const WatchedCollective mark("broadcast", group_);
    inner_.broadcast(buf, root);
  }
  void barrier() override {
    const WatchedCollective mark("barrier", group_);
    inner_.barrier();
  }
  std::unique_ptr<Comm> split(int color, int key) override {
    std::unique_ptr<Comm> part;
    {
      const WatchedCollective mark("split", group_);
      part = inner_.split(color, key);
    }
    return make_watched_comm(std::move(part), role_ + "/split");
  }

 private:
  std::unique_ptr<Comm> owned_;
  Comm& inner_;
  std::string role_;
  WatchedGroup group_;
};

}  // namespace

std::unique_ptr<Comm> make_watched_comm(std::unique_ptr<Comm> inner, const std::string& role) {
  Comm& borrowed = *inner;
  return std::make_unique<WatchedComm>(std::move(inner), borrowed, role);
}

std::unique_ptr<Comm> make_watched_comm(Comm& inner, const std::string& role) {
  return std::make_unique<WatchedComm>(nullptr, inner, role);
}

}  // namespace diverge
