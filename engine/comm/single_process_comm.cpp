// The single-process Comm: a group of one rank, where every collective is the identity or a copy.
#include "engine/comm/comm.h"
#include "engine/device_memory.h"
#include "engine/error.h"

namespace diverge {

namespace {

// On either device: a run on one GPU has no transport, and its collectives are these copies.
void copy_whole(const Tensor& from, const Tensor& to, const char* op) {
  check(from.bytes() == to.bytes() && from.dtype == to.dtype, op,
        "a group of one needs equal send and receive buffers, got " + from.describe() + " and " + to.describe());
  copy_tensor(from, to);
}

class SingleProcessComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string describe() const override { return "single process"; }
  void allreduce(const Tensor&, ReduceOp) override {}
  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp) override {
    copy_whole(send, recv, "reduce_scatter");
  }
  void allgather(const Tensor& send, const Tensor& recv) override { copy_whole(send, recv, "allgather"); }
  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    check(send_counts.size() == 1 && recv_counts.size() == 1 && send_counts[0] == recv_counts[0], "all_to_all_v",
          "a group of one sends its rows to itself: one count each, equal");
    check(send_counts[0] <= send.dim(0) && recv_counts[0] <= recv.dim(0), "all_to_all_v",
          "counts exceed the buffers' rows");
    copy_whole(send.slice_rows(0, send_counts[0]), recv.slice_rows(0, recv_counts[0]), "all_to_all_v");
  }
  void broadcast(const Tensor&, int root) override {
    check(root == 0, "broadcast", "root " + std::to_string(root) + " is not a rank of a group of one");
  }
  void barrier() override {}
  std::unique_ptr<Comm> split(int, int) override { return std::make_unique<SingleProcessComm>(); }
};

}  // namespace

std::unique_ptr<Comm> make_single_process_comm() { return std::make_unique<SingleProcessComm>(); }

}  // namespace diverge
