// MpiComm: the Comm over MPI for host (CPU) tensors; device tensors go over NCCL (nccl_comm.h).
// The C API only: OpenMPI's and MPICH's headers otherwise pull in their deprecated C++ bindings and their library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "engine/comm/collective_args.h"
#include "engine/comm/mpi_comm.h"
#include "engine/error.h"
#include "engine/step_profile.h"

namespace diverge {
namespace {

// MPI counts are ints: reductions and broadcasts go in pieces of at most this many elements.
constexpr std::int64_t kMaxPiece = std::int64_t{1} << 30;

std::string where(const char* op) { return std::string("MPI ") + op; }

void check_host(const Tensor& t, const char* op) {
  check(t.device == Device::cpu, where(op),
        "the tensor " + t.describe() + " is in device memory; the MPI group moves host tensors only");
}

MPI_Datatype reduction_type(const Tensor& t, const char* op) {
  switch (t.dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::bf16: break;
  }
  throw Error(where(op), "cannot reduce " + t.describe() + ": MPI has no bf16 arithmetic");
}

MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::sum ? MPI_SUM : MPI_MAX; }

int as_count(std::int64_t n, const char* op) {
  check(n >= 0 && n <= INT_MAX, where(op), std::to_string(n) + " elements exceed MPI's int counts");
  return static_cast<int>(n);
}

// An MPI datatype of one row of t (every dimension but the first, as bytes): counts of rows stay small.
class RowType {
 public:
  explicit RowType(const Tensor& t) {
    const std::size_t bytes = row_bytes(t);
    check(bytes <= INT_MAX, where("all_to_all_v"), "a row of " + t.describe() + " exceeds MPI's int counts");
    MPI_Type_contiguous(static_cast<int>(std::max<std::size_t>(bytes, 1)), MPI_BYTE, &type_);
    MPI_Type_commit(&type_);
  }
  ~RowType() { MPI_Type_free(&type_); }
  RowType(const RowType&) = delete;
  RowType& operator=(const RowType&) = delete;
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

// Counts in rows and their displacements, as MPI_Alltoallv takes them.
struct RowLayout {
  std::vector<int> counts;
  std::vector<int> offsets;
};

RowLayout row_layout(std::span<const std::int64_t> counts, std::int64_t rows, int ranks, const char* side) {
  const std::vector<std::int64_t> offsets = row_offsets(counts, rows, ranks, side, where("all_to_all_v"));
  RowLayout layout;
  for (std::size_t r = 0; r < counts.size(); ++r) {
    layout.counts.push_back(as_count(counts[r], "all_to_all_v"));
    layout.offsets.push_back(as_count(offsets[r], "all_to_all_v"));
  }
  return layout;
}

class MpiComm final : public Comm {
 public:
  explicit MpiComm(MPI_Comm comm) : comm_(comm) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override { return "MPI, " + std::to_string(size_) + " ranks"; }

  void allreduce(const Tensor& buf, ReduceOp op) override {
    const PartScope part(StepPart::communication);
    check_host(buf, "allreduce");
    const MPI_Datatype type = reduction_type(buf, "allreduce");
    auto* bytes = static_cast<char*>(buf.data);
    for (std::int64_t begin = 0; begin < buf.numel(); begin += kMaxPiece) {
      const std::int64_t n = std::min(kMaxPiece, buf.numel() - begin);
      MPI_Allreduce(MPI_IN_PLACE, bytes + begin * dtype_bytes(buf.dtype), static_cast<int>(n), type, mpi_op(op),
                    comm_);
    }
  }

  void reduce_scatter(const Tensor& send, const Tensor& recv, ReduceOp op) override {
    const PartScope part(StepPart::communication);
    check_host(send, "reduce_scatter");
    check_host(recv, "reduce_scatter");
    check_scatter_sizes(send, recv, size_, where("reduce_scatter"));
    const int count = as_count(recv.numel(), "reduce_scatter");
    const MPI_Datatype type = reduction_type(send, "reduce_scatter");
    // In place when recv is this rank's own slice of send (as NCCL takes it): MPI's in-place form leaves the
    // result at the start of the buffer, whence it moves to the slice.
    if (recv.data == static_cast<char*>(send.data) + static_cast<std::size_t>(rank_) * recv.bytes()) {
      MPI_Reduce_scatter_block(MPI_IN_PLACE, send.data, count, type, mpi_op(op), comm_);
      if (rank_ != 0) std::memmove(recv.data, send.data, recv.bytes());
      return;
    }
    MPI_Reduce_scatter_block(send.data, recv.data, count, type, mpi_op(op), comm_);
  }

  void allgather(const Tensor& send, const Tensor& recv) override {
    const PartScope part(StepPart::communication);
    check_host(send, "allgather");
    check_host(recv, "allgather");
    check_gather_sizes(send, recv, size_, where("allgather"));
    const int bytes = as_count(static_cast<std::int64_t>(send.bytes()), "allgather");
    // In place when send is this rank's own slice of recv (as NCCL takes it): MPI wants that said.
    const bool in_place = send.data == static_cast<char*>(recv.data) + static_cast<std::size_t>(rank_) * send.bytes();
    MPI_Allgather(in_place ? MPI_IN_PLACE : send.data, bytes, MPI_BYTE, recv.data, bytes, MPI_BYTE, comm_);
  }

  void all_to_all_v(const Tensor& send, std::span<const std::int64_t> send_counts, const Tensor& recv,
                    std::span<const std::int64_t> recv_counts) override {
    const PartScope part(StepPart::communication);
    check_host(send, "all_to_all_v");
    check_host(recv, "all_to_all_v");
    check_rows_match(send, recv, where("all_to_all_v"));
    check_self_exchange(send_counts, recv_counts, rank_, where("all_to_all_v"));
    const RowLayout out = row_layout(send_counts, send.dim(0), size_, "send");
    const RowLayout in = row_layout(recv_counts, recv.dim(0), size_, "receive");
    const RowType row(send.dim(0) > 0 ? send : recv);
    MPI_Alltoallv(send.data, out.counts.data(), out.offsets.data(), row.get(), recv.data, in.counts.data(),
                  in.offsets.data(), row.get(), comm_);
  }

  void broadcast(const Tensor& buf, int root) override {
    const PartScope part(StepPart::communication);
    check_host(buf, "broadcast");
    check_root(root, size_, where("broadcast"));
    auto* bytes = static_cast<char*>(buf.data);
    const auto total = static_cast<std::int64_t>(buf.bytes());
    for (std::int64_t begin = 0; begin < total; begin += kMaxPiece)
      MPI_Bcast(bytes + begin, static_cast<int>(std::min(kMaxPiece, total - begin)), MPI_BYTE, root, comm_);
  }

  void barrier() override { MPI_Barrier(comm_); }

  std::unique_ptr<Comm> split(int color, int key) override {
    MPI_Comm part = MPI_COMM_NULL;
    MPI_Comm_split(comm_, color, key, &part);
    return std::make_unique<MpiComm>(part);
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0;
  int size_ = 1;
};

void finalize_mpi() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Comm> make_mpi_world_comm() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    MPI_Init(nullptr, nullptr);
    std::atexit(finalize_mpi);
  }
  MPI_Comm world = MPI_COMM_NULL;
  MPI_Comm_dup(MPI_COMM_WORLD, &world);
  return std::make_unique<MpiComm>(world);
}

void abort_mpi(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
}

}  // namespace diverge
