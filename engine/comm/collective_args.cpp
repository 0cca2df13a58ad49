// The collectives' argument checks, shared by the MPI and NCCL groups so that both refuse the same calls alike.
#include "engine/comm/collective_args.h"

#include "engine/error.h"

namespace diverge {

void check_scatter_sizes(const Tensor& send, const Tensor& recv, int ranks, const std::string& where) {
  check(send.dtype == recv.dtype && send.numel() == recv.numel() * ranks, where,
        "needs send = " + std::to_string(ranks) + " x recv of one dtype, got " + send.describe() + " and " +
            recv.describe());
}

void check_gather_sizes(const Tensor& send, const Tensor& recv, int ranks, const std::string& where) {
  check(recv.bytes() == send.bytes() * static_cast<std::size_t>(ranks), where,
        "needs recv = " + std::to_string(ranks) + " x send, got " + send.describe() + " and " + recv.describe());
}

void check_root(int root, int ranks, const std::string& where) {
  check(root >= 0 && root < ranks, where,
        "root " + std::to_string(root) + " is not a rank of a group of " + std::to_string(ranks));
}

void check_rows_match(const Tensor& send, const Tensor& recv, const std::string& where) {
  check(send.ndim >= 1 && recv.ndim >= 1 &&
            send.bytes() * static_cast<std::size_t>(recv.dim(0)) == recv.bytes() * static_cast<std::size_t>(send.dim(0)),
        where, "send and receive rows differ: " + send.describe() + " and " + recv.describe());
}

std::size_t row_bytes(const Tensor& t) {
  const std::int64_t rows = t.ndim == 0 ? 1 : t.dim(0);
  return rows == 0 ? 0 : t.bytes() / static_cast<std::size_t>(rows);
}

std::vector<std::int64_t> row_offsets(std::span<const std::int64_t> counts, std::int64_t rows, int ranks,
                                      const char* side, const std::string& where) {
  check(static_cast<int>(counts.size()) == ranks, where,
        std::string(side) + " has " + std::to_string(counts.size()) + " counts for a group of " +
            std::to_string(ranks));
  std::vector<std::int64_t> offsets;
  std::int64_t total = 0;
  for (const std::int64_t c : counts) {
    check(c >= 0, where, std::string(side) + " count " + std::to_string(c) + " is negative");
    offsets.push_back(total);
    total += c;
  }
  check(total <= rows, where,
        std::string(side) + " counts add up to " + std::to_string(total) + " rows, the buffer holds " +
            std::to_string(rows));
  return offsets;
}

void check_self_exchange(std::span<const std::int64_t> send_counts, std::span<const std::int64_t> recv_counts,
                         int rank, const std::string& where) {
  const auto r = static_cast<std::size_t>(rank);
  if (r >= send_counts.size() || r >= recv_counts.size()) return;  // row_offsets names the wrong count of counts
  check(send_counts[r] == recv_counts[r], where,
        "rank " + std::to_string(rank) + " sends itself " + std::to_string(send_counts[r]) + " rows but receives " +
            std::to_string(recv_counts[r]) + " from itself");
}

}  // namespace diverge
