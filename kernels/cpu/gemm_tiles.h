// The fixed partition of a matrix product's output into tiles that the CPU gemm computes in parallel.
#pragma once

#include <cstdint>

namespace diverge::cpu {

// Tiles of c (m, n): `down` rows of tiles of `rows` rows, `across` columns of tiles of `cols` columns; the last
// tile of a row or column may be smaller.
struct GemmTiles {
  std::int64_t rows;
  std::int64_t cols;
  std::int64_t down;
  std::int64_t across;
  std::int64_t count() const { return down * across; }
};

// The tiling of an (m, n) output, m and n >= 1. It follows from the shape alone, never from the thread count, so
// each element is computed by the same serial product whatever the number of threads.
GemmTiles gemm_tiles(std::int64_t m, std::int64_t n);

}  // namespace diverge::cpu
