// The CPU gemm's output tiling: row strips of up to 512 rows, narrowed until a small product has enough tiles.
#include "kernels/cpu/gemm_tiles.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"

namespace diverge::cpu {

namespace {

// Every tile packs its own panels of both operands, so each extra strip reads and packs op(b) once more; strips of
// 512 rows keep that to a few percent of a product's time on one thread. Row strips go first: a strip of c is
// contiguous, and on the LM head they measured faster than column strips.
constexpr std::int64_t kStripRows = 512;
// Small outputs (weight gradients, one expert's rows) are narrowed, rows first, down to kSmallestTile a side, until
// there are kWantedTiles for the threads to share: a fixed count, not the thread count, so the partition is fixed.
constexpr std::int64_t kSmallestTile = 32;
constexpr std::int64_t kWantedTiles = 4;
// Narrowed extents stay multiples of the BLAS micro-kernels' widest block, so that tiles keep to their fast path.
constexpr std::int64_t kKernelBlock = 16;

std::int64_t narrower(std::int64_t extent) {
  return std::max(kSmallestTile, block_count(block_count(extent, 2), kKernelBlock) * kKernelBlock);
}

GemmTiles tiles_of(std::int64_t m, std::int64_t n, std::int64_t rows, std::int64_t cols) {
  return {rows, cols, block_count(m, rows), block_count(n, cols)};
}

}  // namespace

GemmTiles gemm_tiles(std::int64_t m, std::int64_t n) {
  GemmTiles tiles = tiles_of(m, n, std::min(m, kStripRows), n);
  while (tiles.count() < kWantedTiles && tiles.rows > kSmallestTile)
    tiles = tiles_of(m, n, narrower(tiles.rows), tiles.cols);
  while (tiles.count() < kWantedTiles && tiles.cols > kSmallestTile)
    tiles = tiles_of(m, n, tiles.rows, narrower(tiles.cols));
  return tiles;
}

}  // namespace diverge::cpu
