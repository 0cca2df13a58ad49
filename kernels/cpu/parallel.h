// Deterministic work splitting for the CPU kernels: fixed-size blocks whose boundaries never depend on thread count.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Columns per block when a reduction over rows runs in parallel over column blocks: every output column is then
// summed by one thread, rows in order, so results are bitwise identical for any number of threads.
constexpr std::int64_t kColumnBlock = 64;

constexpr std::int64_t block_count(std::int64_t extent, std::int64_t block) { return (extent + block - 1) / block; }

}  // namespace diverge::cpu
