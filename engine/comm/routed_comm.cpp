// RoutedComm: each collective goes to the host group or the device group by where its tensors live.
#include "engine/comm/routed_comm.h"

#include <string>

#include "engine/comm/nccl_comm.h"
#include "engine/error.h"

namespace diverge {
namespace {

class RoutedComm final : public Comm {
 public:
  RoutedComm(std::unique_ptr<Comm> host, std::unique_ptr<Comm> device)
      : host_(std::move(host)), device_(std::move(device)) {
    check(host_->size() == device_->size() && host_->rank() == device_->rank(), "routed group",
          "the host group (" + host_->describe() + ") and the device group (" + device_->describe() +
              ") must hold the same ranks");
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string describe() const override {
    return host_->describe() + "; device tensors over " + device_->describe();
  }

  void allreduce(const Tensor& buf, ReduceOp op) override { over(buf).allreduce(buf, op); }
  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    over(send, recv, "reduce_scatter").reduce_scatter(send, recv, op);
  }
  std::unique_ptr<InFlight> start_allreduce(const Tensor& buf, ReduceOp op) override {
    return over(buf).start_allreduce(buf, op);
  }
  std::unique_ptr<InFlight> start_reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    return over(send, recv, "reduce_scatter").start_reduce_scatter(send, recv, op);
  }
  void allgather(const Tensor& send, const Tensor& recv) override {
    over(send, recv, "allgather").allgather(send, recv);
  }
  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    over(send, recv, "all_to_all_v").all_to_all_v(send, send_counts, recv, recv_counts);
  }
  std::unique_ptr<InFlight> start_all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts,
                                               const Tensor& recv, std::span<const std::int64_t> recv_counts) override {
    return over(send, recv, "all_to_all_v").start_all_to_all_v(send, send_counts, recv, recv_counts);
  }
  void broadcast(const Tensor& buf, int root) override { over(buf).broadcast(buf, root); }
  void barrier() override { host_->barrier(); }
  std::unique_ptr<Comm> split(int color, int key) override {
    std::unique_ptr<Comm> host = host_->split(color, key);
    return std::make_unique<RoutedComm>(std::move(host), device_->split(color, key));
  }

 private:
  Comm& over(const Tensor& t) { return t.device == Device::cuda ? *device_ : *host_; }
  Comm& over(const Tensor& send, const Tensor& recv, const char* op) {
    check(send.device == recv.device, op,
          "send " + send.describe() + " and receive " + recv.describe() + " must be on one device");
    return over(send);
  }

  std::unique_ptr<Comm> host_;
  std::unique_ptr<Comm> device_;
};

}  // namespace

std::unique_ptr<Comm> make_routed_comm(std::unique_ptr<Comm> host, std::unique_ptr<Comm> device) {
  return std::make_unique<RoutedComm>(std::move(host), std::move(device));
}

std::unique_ptr<Comm> make_device_world(Comm& world) {
  if (world.size() == 1) return make_single_process_comm();
  use_local_gpu(world);
  std::unique_ptr<Comm> host = world.split(0, world.rank());
  return make_routed_comm(std::move(host), make_nccl_comm(world.split(0, world.rank())));
}

}  // namespace diverge
