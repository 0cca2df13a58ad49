// The NCCL side of the groups on the emulator: device tensors travel over the host group, device memory being host.
#include <string>

#include "engine/comm/nccl_comm.h"
#include "engine/error.h"

namespace diverge {
namespace {

// The emulator's device memory is host memory and its streams finish every operation before the call returns, so a
// device collective is the host group's collective over the same bytes. It keeps NCCL's contract: host tensors are
// an error, so a step that hands the device group a host tensor fails here as it would on GPUs.
class EmulatedDeviceComm final : public Comm {
 public:
  explicit EmulatedDeviceComm(std::unique_ptr<Comm> host) : host_(std::move(host)) {}

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string describe() const override { return "emulated NCCL over " + host_->describe(); }

  void allreduce(const Tensor& buf, ReduceOp op) override { host_->allreduce(as_host(buf, "allreduce"), op); }
  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    host_->reduce_scatter(as_host(send, "reduce_scatter"), as_host(recv, "reduce_scatter"), op);
  }
  void allgather(const Tensor& send, const Tensor& recv) override {
    host_->allgather(as_host(send, "allgather"), as_host(recv, "allgather"));
  }
  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    host_->all_to_all_v(as_host(send, "all_to_all_v"), send_counts, as_host(recv, "all_to_all_v"), recv_counts);
  }
  void broadcast(const Tensor& buf, int root) override { host_->broadcast(as_host(buf, "broadcast"), root); }
  void barrier() override { host_->barrier(); }
  std::unique_ptr<Comm> split(int color, int key) override {
    return std::make_unique<EmulatedDeviceComm>(host_->split(color, key));
  }

 private:
  static Tensor as_host(const Tensor& t, const char* op) {
    check(t.device == Device::cuda, std::string("NCCL ") + op,
          "the tensor " + t.describe() + " is in host memory; the NCCL group moves device tensors only");
    Tensor view = t;
    view.device = Device::cpu;
    return view;
  }

  std::unique_ptr<Comm> host_;
};

}  // namespace

bool nccl_built() { return true; }

std::string nccl_version() { return "emulated NCCL (device collectives over the host group)"; }

// The emulator has one device, and each rank's process has an emulator of its own.
int use_local_gpu(Comm&) { return 0; }

std::unique_ptr<Comm> make_nccl_comm(std::unique_ptr<Comm> bootstrap) {
  return std::make_unique<EmulatedDeviceComm>(std::move(bootstrap));
}

}  // namespace diverge
