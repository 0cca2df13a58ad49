// The tensor-core attention kernels' shared pieces: 64-row tiles in swizzled shared memory, their cp.async loaders,
// a warp's 16-row products on mma.sync, and its 16-byte row stores. Included by .cu files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "kernels/cuda/attention_rows.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/ptx.h"
#include "kernels/cuda/swizzled_tile.h"

namespace diverge::cuda::flash {

// Query rows and keys per tile: equal, so that the one tile a causal row ends in is the diagonal one.
constexpr int kRows = 64;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kWarpRows = kRows / kWarps;  // 16, the M of one mma: warp w owns the tile's rows 16 w .. 16 w + 15
constexpr int kColumnTiles = kRows / 8;    // the n-tiles (8 columns each) of a warp's 16 x 64 product with a tile
constexpr int kMaxGridY = 65535;

// A warp's 16 x 64 product with a tile as mma accumulator fragments: [n-tile][i], rows g + 8 (i / 2) and columns
// 8 n + 2 t + i % 2 for g = lane / 4, t = lane % 4. Products with part of a tile have fewer n-tiles.
using WarpScores = float[kColumnTiles][4];

// kRows rows of D bf16 in shared memory (D of 8 or 16 chunks: swizzled by row % 8).
template <int D>
using SharedTile = SwizzledTile<kRows, D>;

// Rows [first, first + kRows) of a head, copied asynchronously by the whole block (the caller commits the group);
// rows past the sequence's end are zero-filled without reading.
template <int D>
__device__ void load_tile(SharedTile<D>& tile, const bf16_bits* x, HeadRows rows, std::int64_t first,
                          std::int64_t seq) {
  constexpr int kChunks = D / kChunk;
  for (int e = static_cast<int>(threadIdx.x); e < kRows * kChunks; e += kThreads) {
    const int r = e / kChunks, c = e % kChunks;
    const bool inside = first + r < seq;
    const bf16_bits* source = x + rows.base + (inside ? first + r : 0) * rows.stride + c * kChunk;
    cp_async_16(tile.chunk(r, c), source, inside ? 16 : 0);
  }
}

// The key and value rows [first, first + kRows) of a KV head into their tiles, as load_tile does.
template <int D>
__device__ void load_key_values(SharedTile<D>& keys, SharedTile<D>& values, const bf16_bits* k, const bf16_bits* v,
                                HeadRows rows, std::int64_t first, std::int64_t seq) {
  load_tile<D>(keys, k, rows, first, seq);
  load_tile<D>(values, v, rows, first, seq);
}

// Where a block of a query-tile grid works: (batch, head) pair blockIdx.x, query tile gridDim.y - 1 - blockIdx.y (so
// that the tiles with the longest causal rows start first), over key tiles 0 .. the diagonal one.
struct QueryTileBlock {
  std::int64_t bh;
  HeadPair rows;
  std::int64_t first;
  std::int64_t key_tiles;
};

__device__ __forceinline__ QueryTileBlock query_tile_block(const AttentionShape& s) {
  const std::int64_t first = static_cast<std::int64_t>(gridDim.y - 1 - blockIdx.y) * kRows;
  return {blockIdx.x, head_pair(s, blockIdx.x), first, first / kRows + 1};
}

// The A fragment of 16 rows of a tile from `first`, at dims 16 kk .. 16 kk + 15: ldmatrix's four matrices are rows
// 0-7 and 8-15 at dims 0-7, then at dims 8-15.
template <int D>
__device__ __forceinline__ void load_row_fragment(std::uint32_t (&a)[4], SharedTile<D>& tile, int first, int kk,
                                                  int lane) {
  const int m = lane / 8, r = lane % 8;
  ldmatrix<4, false>(a, tile.chunk(first + (m % 2) * 8 + r, 2 * kk + m / 2));
}

// s (16 x 8 N) = A (16 x D) . (the tile's rows from `first`)^T, where row_fragment(a, kk) fills A's fragment at dims
// 16 kk .. 16 kk + 15. A tile row stored row-major is a column of the col-major B operand as it is, so ldmatrix reads
// it untransposed: its four matrices are rows 0-7 of an n-tile pair at dims 0-7 and 8-15, then rows 8-15.
template <int D, int N, class RowFragment>
__device__ void rows_times_tile(float (&s)[N][4], const RowFragment& row_fragment, SharedTile<D>& tile, int first,
                                int lane) {
  static_assert(N % 2 == 0, "n-tiles are read in pairs");
  const int m = lane / 8, r = lane % 8;
  for (auto& fragment : s)
    for (float& x : fragment) x = 0.0f;
  for (int kk = 0; kk < D / 16; ++kk) {
    std::uint32_t a[4];
    row_fragment(a, kk);
    for (int n = 0; n < N; n += 2) {
      std::uint32_t b[4];
      ldmatrix<4, false>(b, tile.chunk(first + n * 8 + (m / 2) * 8 + r, 2 * kk + m % 2));
      const std::uint32_t low[2] = {b[0], b[1]}, high[2] = {b[2], b[3]};
      mma_m16n8k16_bf16(s[n], a, low, s[n]);
      mma_m16n8k16_bf16(s[n + 1], a, high, s[n + 1]);
    }
  }
}

// o (16 x D) += p (16 x 8 N, rounded to bf16) . the tile's rows from `first`. The fragments of n-tiles 2 kk and
// 2 kk + 1 are the A fragment of step kk as they stand; the tile's rows are the B operand's k dimension, so ldmatrix
// transposes: its four matrices are rows 0-7 and 8-15 of a dim n-tile pair's first n-tile, then of its second.
template <int D, int N>
__device__ void accumulate_product(float (&o)[D / 8][4], const float (&p)[N][4], SharedTile<D>& tile, int first,
                                   int lane) {
  static_assert(N % 2 == 0, "a k step of the mma spans two n-tiles");
  const int m = lane / 8, r = lane % 8;
  for (int kk = 0; kk < N / 2; ++kk) {
    const std::uint32_t pa[4] = {pack_bf16x2(p[2 * kk][0], p[2 * kk][1]), pack_bf16x2(p[2 * kk][2], p[2 * kk][3]),
                                 pack_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                                 pack_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3])};
    for (int n = 0; n < D / 8; n += 2) {
      std::uint32_t b[4];
      ldmatrix<4, true>(b, tile.chunk(first + kk * 16 + (m % 2) * 8 + r, n + m / 2));
      const std::uint32_t low[2] = {b[0], b[1]}, high[2] = {b[2], b[3]};
      mma_m16n8k16_bf16(o[n], pa, low, o[n]);
      mma_m16n8k16_bf16(o[n + 1], pa, high, o[n + 1]);
    }
  }
}

// Runs use(j, buffer) for steps j = 0 .. steps - 1 over double-buffered tiles, step 0 already loaded into buffer 0
// and committed: load(j + 1, other buffer) copies the next step's tiles asynchronously while step j is in use, and a
// barrier closes every step, so a load never overwrites tiles a warp still reads.
template <class Load, class Use>
__device__ void pipelined_steps(std::int64_t steps, const Load& load, const Use& use) {
  for (std::int64_t j = 0; j < steps; ++j) {
    if (j + 1 < steps) {
      load(j + 1, static_cast<int>((j + 1) % 2));
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    use(j, static_cast<int>(j % 2));
    __syncthreads();
  }
}

// Stores the warp's 16 rows of o (rows g and g + 8 times factor[0] and factor[1]) as bf16: staged in the warp's own
// rows of a tile (which no other warp reads), then written as 16-byte chunks (out is 16-byte aligned and D a
// multiple of 8); rows past the sequence's end are not written.
template <int D>
__device__ void store_warp_rows(const float (&o)[D / 8][4], const float (&factor)[2], SharedTile<D>& staging,
                                bf16_bits* out, HeadRows rows, std::int64_t first, std::int64_t seq, int warp,
                                int lane) {
  const int g = lane / 4, t = lane % 4;
  for (int n = 0; n < D / 8; ++n) {
    for (int h = 0; h < 2; ++h) {
      *reinterpret_cast<std::uint32_t*>(staging.chunk(warp * kWarpRows + g + h * 8, n) + 2 * t) =
          pack_bf16x2(o[n][2 * h] * factor[h], o[n][2 * h + 1] * factor[h]);
    }
  }
  __syncwarp();  // every lane's pairs are staged before the lanes read whole chunks of them
  constexpr int kChunks = D / kChunk;
  for (int e = lane; e < kWarpRows * kChunks; e += 32) {
    const int r = warp * kWarpRows + e / kChunks, c = e % kChunks;
    if (first + r < seq)
      *reinterpret_cast<uint4*>(out + rows.base + (first + r) * rows.stride + c * kChunk) =
          *reinterpret_cast<const uint4*>(staging.chunk(r, c));
  }
}

// Lets kernel take `bytes` of dynamic shared memory: above the default 48 KiB, a kernel has to ask.
template <class Kernel>
void allow_dynamic_shared(Kernel kernel, std::size_t bytes) {
  check_cuda(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(bytes)),
             "cuda attention", "shared memory for the tensor-core kernels");
}

// Refuses what the tensor-core kernels cannot take: a tensor not 16-byte aligned (rows move as 16-byte chunks), a
// sequence with more 64-row tiles than a grid's y extent, a head dim without a kernel.
inline void check_flash_arguments(const AttentionShape& s, std::initializer_list<const void*> tensors) {
  for (const void* tensor : tensors)
    if (!aligned_16(tensor))
      throw Error("cuda attention", "the tensor-core kernels need 16-byte aligned tensors");
  if ((s.seq + kRows - 1) / kRows > kMaxGridY)
    throw Error("cuda attention", "sequence of " + std::to_string(s.seq) + " exceeds the grid's query tiles");
  if (s.head_dim != 64 && s.head_dim != 128)
    throw Error("cuda attention", "no tensor-core kernel for head dim " + std::to_string(s.head_dim));
}

}  // namespace diverge::cuda::flash
