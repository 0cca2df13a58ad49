// The NCCL side of the groups on the emulator: device tensors travel over the host group, device memory being host.
#include <string>
#include <vector>

#include "engine/comm/collective_args.h"
#include "engine/comm/device_in_flight.h"
#include "engine/comm/nccl_comm.h"
#include "engine/error.h"
#include "tests/emulator/cuda_emulator.h"

namespace diverge {
namespace {

// The emulator's device memory is host memory, so a device collective is the host group's collective over the same
// bytes, its arguments checked at the call as NCCL checks them, queued on a stream as NCCL queues its kernels: it
// runs in the stream's order (the compute stream's, or a side stream's for a started one), and every rank
// runs its streams' queues in its own program order, so the host group sees the collectives in the same order
// everywhere. It keeps NCCL's contract: host tensors are an error, so a step that hands the device group a host
// tensor fails here as it would on GPUs.
class EmulatedDeviceComm final : public Comm {
 public:
  explicit EmulatedDeviceComm(std::unique_ptr<Comm> host) : host_(std::move(host)) {}

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string describe() const override { return "emulated NCCL over " + host_->describe(); }

  void allreduce(const Tensor& buf, ReduceOp op) override { allreduce_on(buf, op, cuda::launch_stream()); }
  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    reduce_scatter_on(send, recv, op, cuda::launch_stream());
  }
  std::unique_ptr<InFlight> start_allreduce(const Tensor& buf, ReduceOp op) override {
    return std::make_unique<DeviceInFlight>(cuda::SideStream::gradients,
                                            [&](cudaStream_t stream) { allreduce_on(buf, op, stream); });
  }
  std::unique_ptr<InFlight> start_reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    return std::make_unique<DeviceInFlight>(cuda::SideStream::gradients,
                                            [&](cudaStream_t stream) { reduce_scatter_on(send, recv, op, stream); });
  }
  void allgather(const Tensor& send, const Tensor& recv) override {
    check_gather_sizes(send, recv, size(), "NCCL allgather");
    Comm& host = *host_;
    emu::enqueue(cuda::launch_stream(), [&host, send = as_host(send, "allgather"), recv = as_host(recv, "allgather")] {
      host.allgather(send, recv);
    });
  }
  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    all_to_all_v_on(send, send_counts, recv, recv_counts, cuda::launch_stream());
  }
  std::unique_ptr<InFlight> start_all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts,
                                               const Tensor& recv, std::span<const std::int64_t> recv_counts) override {
    return std::make_unique<DeviceInFlight>(cuda::SideStream::exchange, [&](cudaStream_t stream) {
      all_to_all_v_on(send, send_counts, recv, recv_counts, stream);
    });
  }
  void broadcast(const Tensor& buf, int root) override {
    check_root(root, size(), "NCCL broadcast");
    Comm& host = *host_;
    emu::enqueue(cuda::launch_stream(), [&host, buf = as_host(buf, "broadcast"), root] { host.broadcast(buf, root); });
  }
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

  void all_to_all_v_on(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                       std::span<const std::int64_t> recv_counts, cudaStream_t stream) {
    check_rows_match(send, recv, "NCCL all_to_all_v");
    check_self_exchange(send_counts, recv_counts, rank(), "NCCL all_to_all_v");
    row_offsets(send_counts, send.dim(0), size(), "send", "NCCL all_to_all_v");
    row_offsets(recv_counts, recv.dim(0), size(), "receive", "NCCL all_to_all_v");
    Comm& host = *host_;
    emu::enqueue(stream,
                 [&host, send = as_host(send, "all_to_all_v"), recv = as_host(recv, "all_to_all_v"),
                  out = std::vector<std::int64_t>(send_counts.begin(), send_counts.end()),
                  in = std::vector<std::int64_t>(recv_counts.begin(), recv_counts.end())] {
                   host.all_to_all_v(send, out, recv, in);
                 });
  }

  void allreduce_on(const Tensor& buf, ReduceOp op, cudaStream_t stream) {
    Comm& host = *host_;
    emu::enqueue(stream, [&host, buf = as_host(buf, "allreduce"), op] { host.allreduce(buf, op); });
  }
  void reduce_scatter_on(const Tensor& send, const Tensor& recv, ReduceOp op, cudaStream_t stream) {
    check_scatter_sizes(send, recv, size(), "NCCL reduce_scatter");
    Comm& host = *host_;
    emu::enqueue(stream, [&host, send = as_host(send, "reduce_scatter"), recv = as_host(recv, "reduce_scatter"), op] {
      host.reduce_scatter(send, recv, op);
    });
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
