// The argument rules of the collectives, checked alike by every Comm whose ranks exchange data (MPI, NCCL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace diverge {

// reduce_scatter: send (ranks * n) -> recv (n), one dtype.
void check_scatter_sizes(const Tensor& send, const Tensor& recv, int ranks, const std::string& where);
// allgather: recv holds ranks times send's bytes.
void check_gather_sizes(const Tensor& send, const Tensor& recv, int ranks, const std::string& where);
void check_root(int root, int ranks, const std::string& where);
// all_to_all_v: send and recv rows (every dimension but the first) of one size.
void check_rows_match(const Tensor& send, const Tensor& recv, const std::string& where);
// all_to_all_v: the rows a rank sends itself are the rows it receives from itself (a transport may not check it:
// NCCL's send to self and receive from self would just disagree).
void check_self_exchange(std::span<const std::int64_t> send_counts, std::span<const std::int64_t> recv_counts,
                         int rank, const std::string& where);
// Bytes of one row of t (t itself for a scalar; 0 for no rows).
std::size_t row_bytes(const Tensor& t);
// Where each rank's block of rows starts, once the counts are checked: one per rank, none negative, adding up to
// at most `rows`. `side` ("send", "receive") names them in errors.
std::vector<std::int64_t> row_offsets(std::span<const std::int64_t> counts, std::int64_t rows, int ranks,
                                      const char* side, const std::string& where);

}  // namespace diverge
