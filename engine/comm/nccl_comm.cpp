// NcclComm: the Comm over NCCL for device tensors, bootstrapped through a host group, on the compute stream.
#include "engine/comm/nccl_comm.h"

#include <nccl.h>

#include <exception>
#include <string>
#include <vector>

#include "engine/comm/collective_args.h"
#include "engine/comm/device_in_flight.h"
#include "engine/comm/host_place.h"
#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/stream.h"

namespace diverge {
namespace {

std::string where(const char* op) { return std::string("NCCL ") + op; }

// Throws Error("NCCL <op>", "<call>: <NCCL's message>[: <its last error>]") unless result is ncclSuccess.
void check_nccl(ncclResult_t result, const char* op, const std::string& call) {
  if (result == ncclSuccess) return;
  std::string what = call + ": " + ncclGetErrorString(result);
  const std::string detail = ncclGetLastError(nullptr);
  if (!detail.empty()) what += ": " + detail;
  throw Error(where(op), what);
}

void check_device(const Tensor& t, const char* op) {
  check(t.device == Device::cuda, where(op),
        "the tensor " + t.describe() + " is in host memory; the NCCL group moves device tensors only");
}

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::bf16: return ncclBfloat16;
    case DType::i32: return ncclInt32;
    case DType::f64: return ncclFloat64;
  }
  return ncclUint8;
}

ncclRedOp_t nccl_op(ReduceOp op) { return op == ReduceOp::sum ? ncclSum : ncclMax; }

class NcclComm final : public Comm {
 public:
  explicit NcclComm(std::unique_ptr<Comm> bootstrap) : bootstrap_(std::move(bootstrap)) {
    ncclUniqueId id{};
    static_assert(sizeof(id) % sizeof(std::int32_t) == 0);
    if (bootstrap_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "init", "ncclGetUniqueId");
    bootstrap_->broadcast(make_view(&id, DType::i32, Device::cpu, {sizeof(id) / sizeof(std::int32_t)}), 0);
    check_nccl(ncclCommInitRank(&comm_, bootstrap_->size(), id, bootstrap_->rank()), "init",
               "ncclCommInitRank (rank " + std::to_string(bootstrap_->rank()) + " of " +
                   std::to_string(bootstrap_->size()) + "; each rank needs a GPU of its own)");
  }
  // An error unwinding past the group may have left its peers inside a collective: abort rather than wait for them.
  ~NcclComm() override {
    if (std::uncaught_exceptions() > 0) ncclCommAbort(comm_);
    else ncclCommDestroy(comm_);
  }
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string describe() const override { return nccl_version() + ", " + std::to_string(size()) + " ranks"; }

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
    const PartScope part(StepPart::communication);
    check_device(send, "allgather");
    check_device(recv, "allgather");
    check_gather_sizes(send, recv, size(), where("allgather"));
    check_nccl(ncclAllGather(send.data, recv.data, send.bytes(), ncclUint8, comm_, cuda::launch_stream()),
               "allgather", "ncclAllGather of " + send.describe());
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
    const PartScope part(StepPart::communication);
    check_device(buf, "broadcast");
    check_root(root, size(), where("broadcast"));
    check_nccl(ncclBroadcast(buf.data, buf.data, buf.bytes(), ncclUint8, root, comm_, cuda::launch_stream()),
               "broadcast", "ncclBroadcast of " + buf.describe());
  }

  // Every rank's queued work, collectives included, has run before any rank goes on.
  void barrier() override {
    cuda::synchronize();
    bootstrap_->barrier();
  }

  std::unique_ptr<Comm> split(int color, int key) override {
    return std::make_unique<NcclComm>(bootstrap_->split(color, key));
  }

 private:
  void allreduce_on(const Tensor& buf, ReduceOp op, cudaStream_t stream) {
    const PartScope part(StepPart::communication);
    check_device(buf, "allreduce");
    check_nccl(ncclAllReduce(buf.data, buf.data, static_cast<std::size_t>(buf.numel()), nccl_type(buf.dtype),
                             nccl_op(op), comm_, stream),
               "allreduce", "ncclAllReduce of " + buf.describe());
  }

  void reduce_scatter_on(const Tensor& send, const Tensor& recv, ReduceOp op, cudaStream_t stream) {
    const PartScope part(StepPart::communication);
    check_device(send, "reduce_scatter");
    check_device(recv, "reduce_scatter");
    check_scatter_sizes(send, recv, size(), where("reduce_scatter"));
    check_nccl(ncclReduceScatter(send.data, recv.data, static_cast<std::size_t>(recv.numel()), nccl_type(send.dtype),
                                 nccl_op(op), comm_, stream),
               "reduce_scatter", "ncclReduceScatter of " + send.describe());
  }

  // One send and one receive per peer with rows to exchange, fused into one group call.
  void all_to_all_v_on(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                       std::span<const std::int64_t> recv_counts, cudaStream_t stream) {
    const PartScope part(StepPart::communication);
    check_device(send, "all_to_all_v");
    check_device(recv, "all_to_all_v");
    check_rows_match(send, recv, where("all_to_all_v"));
    check_self_exchange(send_counts, recv_counts, rank(), where("all_to_all_v"));
    const std::vector<std::int64_t> out = row_offsets(send_counts, send.dim(0), size(), "send", where("all_to_all_v"));
    const std::vector<std::int64_t> in =
        row_offsets(recv_counts, recv.dim(0), size(), "receive", where("all_to_all_v"));
    const std::size_t row = row_bytes(send.dim(0) > 0 ? send : recv);
    check_nccl(ncclGroupStart(), "all_to_all_v", "ncclGroupStart");
    for (int peer = 0; peer < size(); ++peer) {
      const auto p = static_cast<std::size_t>(peer);
      if (send_counts[p] > 0)
        check_nccl(ncclSend(static_cast<const char*>(send.data) + static_cast<std::size_t>(out[p]) * row,
                            static_cast<std::size_t>(send_counts[p]) * row, ncclUint8, peer, comm_, stream),
                   "all_to_all_v", "ncclSend to rank " + std::to_string(peer));
      if (recv_counts[p] > 0)
        check_nccl(ncclRecv(static_cast<char*>(recv.data) + static_cast<std::size_t>(in[p]) * row,
                            static_cast<std::size_t>(recv_counts[p]) * row, ncclUint8, peer, comm_, stream),
                   "all_to_all_v", "ncclRecv from rank " + std::to_string(peer));
    }
    check_nccl(ncclGroupEnd(), "all_to_all_v", "ncclGroupEnd");
  }

  std::unique_ptr<Comm> bootstrap_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_built() { return true; }

std::string nccl_version() {
  int code = 0;
  ncclGetVersion(&code);
  // NCCL_VERSION(X, Y, Z): X * 1000 + Y * 100 + Z up to 2.8, X * 10000 + Y * 100 + Z since 2.9.
  const int major = code >= 10000 ? code / 10000 : code / 1000;
  const int minor = code >= 10000 ? code / 100 % 100 : code / 100 % 10;
  return "NCCL " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(code % 100);
}

int use_local_gpu(Comm& world) {
  const HostPlace place = host_place(world);
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  check(devices > 0, "NCCL", "rank " + std::to_string(world.rank()) + " sees no CUDA device");
  const int device = place.rank % devices;
  const cudaError_t error = cudaSetDevice(device);
  check(error == cudaSuccess, "NCCL", "cudaSetDevice(" + std::to_string(device) + "): " + cudaGetErrorString(error));
  return device;
}

std::unique_ptr<Comm> make_nccl_comm(std::unique_ptr<Comm> bootstrap) {
  return std::make_unique<NcclComm>(std::move(bootstrap));
}

}  // namespace diverge
