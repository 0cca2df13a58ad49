// CUDA causal attention forward on tensor cores (flash-attention 2's structure): a block per 64-query tile, K and V
// tiles streamed through shared memory by double-buffered cp.async, scores and P V by mma.sync, online softmax in
// fp32 on the accumulator fragments.
#include "kernels/cuda/attention_flash.h"

#include <cmath>
#include <string>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_rows.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/ptx.h"
#include "kernels/cuda/swizzled_tile.h"

namespace diverge::cuda {
namespace {

// Query rows per block and keys per KV tile: equal, so that the one tile a causal row ends in is the diagonal one.
constexpr int kRows = 64;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kWarpRows = kRows / kWarps;  // 16, the M of one mma: warp w owns the tile's rows 16 w .. 16 w + 15
constexpr int kKeyTiles = kRows / 8;       // the n-tiles (8 keys each) of a warp's 16 x 64 scores
constexpr int kMaxGridY = 65535;

// kRows rows of D bf16 in shared memory (D of 8 or 16 chunks: swizzled by row % 8).
template <int D>
using SharedTile = SwizzledTile<kRows, D>;

template <int D>
struct FlashTiles {
  SharedTile<D> q;  // then each warp's output rows, staged for 16-byte stores
  SharedTile<D> k[2];
  SharedTile<D> v[2];
};

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

// The A fragments of the warp's 16 query rows for each 16-dim step: ldmatrix's four matrices are rows 0-7 and 8-15
// of the step's dims 0-7, then of dims 8-15.
template <int D>
__device__ void load_query_fragments(std::uint32_t (&qa)[D / 16][4], SharedTile<D>& tile, int warp, int lane) {
  const int m = lane / 8, r = lane % 8;
  for (int kk = 0; kk < D / 16; ++kk)
    ldmatrix<4, false>(qa[kk], tile.chunk(warp * kWarpRows + (m % 2) * 8 + r, 2 * kk + m / 2));
}

// s (16 x 64, fragments of 8-key n-tiles) = the warp's query rows . the tile's keys. A key row stored row-major is a
// column of the col-major B operand as it is, so ldmatrix reads it untransposed: its four matrices are keys 0-7 of
// an n-tile pair at dims 0-7 and 8-15, then keys 8-15.
template <int D>
__device__ void tile_scores(float (&s)[kKeyTiles][4], const std::uint32_t (&qa)[D / 16][4], SharedTile<D>& keys,
                            int lane) {
  const int m = lane / 8, r = lane % 8;
  for (auto& fragment : s)
    for (float& x : fragment) x = 0.0f;
  for (int kk = 0; kk < D / 16; ++kk) {
    for (int n = 0; n < kKeyTiles; n += 2) {
      std::uint32_t b[4];
      ldmatrix<4, false>(b, keys.chunk(n * 8 + (m / 2) * 8 + r, 2 * kk + m % 2));
      const std::uint32_t first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
      mma_m16n8k16_bf16(s[n], qa[kk], first, s[n]);
      mma_m16n8k16_bf16(s[n + 1], qa[kk], second, s[n + 1]);
    }
  }
}

// o (16 x D) += p (16 x 64, rounded to bf16) . the tile's values. The score fragments of n-tiles 2 kk and 2 kk + 1
// are the A fragment of key step kk as they stand; V's rows are the B operand's k dimension, so ldmatrix transposes:
// its four matrices are keys 0-7 and 8-15 of a dim n-tile pair's first n-tile, then of its second.
template <int D>
__device__ void accumulate_values(float (&o)[D / 8][4], const float (&p)[kKeyTiles][4], SharedTile<D>& values,
                                  int lane) {
  const int m = lane / 8, r = lane % 8;
  for (int kk = 0; kk < kRows / 16; ++kk) {
    const std::uint32_t pa[4] = {pack_bf16x2(p[2 * kk][0], p[2 * kk][1]), pack_bf16x2(p[2 * kk][2], p[2 * kk][3]),
                                 pack_bf16x2(p[2 * kk + 1][0], p[2 * kk + 1][1]),
                                 pack_bf16x2(p[2 * kk + 1][2], p[2 * kk + 1][3])};
    for (int n = 0; n < D / 8; n += 2) {
      std::uint32_t b[4];
      ldmatrix<4, true>(b, values.chunk(kk * 16 + (m % 2) * 8 + r, n + m / 2));
      const std::uint32_t first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
      mma_m16n8k16_bf16(o[n], pa, first, o[n]);
      mma_m16n8k16_bf16(o[n + 1], pa, second, o[n + 1]);
    }
  }
}

// A row is spread over the four lanes of a quad (g = lane / 4): a fixed butterfly, the same bits in every lane.
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// The lane's two rows (g and g + 8 of the warp's 16; fragment elements 0, 1 and 2, 3): the running maximum of the
// scaled scores, shared by the quad, and the lane's own part of the sum of exponentials, added up at the end.
struct RowStats {
  float max[2] = {-INFINITY, -INFINITY};
  float partial_sum[2] = {0.0f, 0.0f};
};

// Scales a tile's scores in place (keys after the row or past the sequence to -inf), then turns them into
// exponentials relative to the rows' new maxima, rescaling the running sums and the output accumulator to them.
template <int D>
__device__ void online_softmax(float (&s)[kKeyTiles][4], RowStats& stats, float (&o)[D / 8][4], float scale,
                               std::int64_t row, std::int64_t key_first, bool diagonal, std::int64_t seq, int lane) {
  const int t = lane % 4;
  float tile_max[2] = {-INFINITY, -INFINITY};
  for (int n = 0; n < kKeyTiles; ++n) {
    for (int i = 0; i < 4; ++i) {
      const std::int64_t key = key_first + n * 8 + 2 * t + i % 2;
      const bool visible = !diagonal || (key <= row + (i / 2) * 8 && key < seq);
      s[n][i] = visible ? s[n][i] * scale : -INFINITY;
      tile_max[i / 2] = fmaxf(tile_max[i / 2], s[n][i]);
    }
  }
  float shift[2], rescale[2];
  for (int h = 0; h < 2; ++h) {
    const float new_max = fmaxf(stats.max[h], quad_max(tile_max[h]));
    shift[h] = new_max == -INFINITY ? 0.0f : new_max;  // a row with no visible key yet keeps zero weights
    rescale[h] = expf(stats.max[h] - shift[h]);        // 0 on the first tile, where the max was -inf
    stats.max[h] = new_max;
    stats.partial_sum[h] *= rescale[h];
  }
  for (int n = 0; n < kKeyTiles; ++n) {
    for (int i = 0; i < 4; ++i) {
      s[n][i] = expf(s[n][i] - shift[i / 2]);
      stats.partial_sum[i / 2] += s[n][i];
    }
  }
  for (auto& fragment : o)
    for (int i = 0; i < 4; ++i) fragment[i] *= rescale[i / 2];
}

// Divides the warp's output rows by their sums, stages them as bf16 in the warp's own rows of the query tile (no
// other warp reads them), then stores them as 16-byte chunks (out is 16-byte aligned and D a multiple of 8); writes
// lse = max + log(sum).
template <int D>
__device__ void store_rows(const float (&o)[D / 8][4], const RowStats& stats, SharedTile<D>& staging,
                           bf16_bits* out, HeadRows rows, float* lse, std::int64_t first, std::int64_t seq, int warp,
                           int lane) {
  const int g = lane / 4, t = lane % 4;
  float inverse[2];
  for (int h = 0; h < 2; ++h) {
    const float sum = quad_sum(stats.partial_sum[h]);
    inverse[h] = 1.0f / sum;
    const std::int64_t row = first + warp * kWarpRows + g + h * 8;
    if (t == 0 && row < seq) lse[row] = stats.max[h] + logf(sum);
  }
  for (int n = 0; n < D / 8; ++n) {
    for (int h = 0; h < 2; ++h) {
      *reinterpret_cast<std::uint32_t*>(staging.chunk(warp * kWarpRows + g + h * 8, n) + 2 * t) =
          pack_bf16x2(o[n][2 * h] * inverse[h], o[n][2 * h + 1] * inverse[h]);
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

// Block (x, y): (batch, head) pair x, query tile gridDim.y - 1 - y, so that the tiles with the longest causal rows
// start first. Key tiles 0 .. the diagonal one, each loaded while the one before is in use.
template <int D>
__global__ void flash_attention_forward_kernel(AttentionShape s, float scale, const bf16_bits* q, const bf16_bits* k,
                                               const bf16_bits* v, bf16_bits* out, float* lse) {
  DIVERGE_DYNAMIC_SHARED(FlashTiles<D>, tiles);
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const std::int64_t bh = blockIdx.x;
  const HeadPair rows = head_pair(s, bh);
  const std::int64_t first = static_cast<std::int64_t>(gridDim.y - 1 - blockIdx.y) * kRows;
  const std::int64_t key_tiles = first / kRows + 1;

  load_tile<D>(tiles->q, q, rows.query, first, s.seq);
  cp_async_commit();
  load_tile<D>(tiles->k[0], k, rows.kv, 0, s.seq);
  load_tile<D>(tiles->v[0], v, rows.kv, 0, s.seq);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  std::uint32_t qa[D / 16][4];
  load_query_fragments<D>(qa, tiles->q, warp, lane);

  RowStats stats;
  float o[D / 8][4] = {};
  const std::int64_t row = first + warp * kWarpRows + lane / 4;  // the lane's first row; the second is 8 below
  for (std::int64_t j = 0; j < key_tiles; ++j) {
    if (j + 1 < key_tiles) {
      // Into the buffer tile j - 1 used: every warp finished with it before the barrier closing that iteration.
      load_tile<D>(tiles->k[(j + 1) % 2], k, rows.kv, (j + 1) * kRows, s.seq);
      load_tile<D>(tiles->v[(j + 1) % 2], v, rows.kv, (j + 1) * kRows, s.seq);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    float scores[kKeyTiles][4];
    tile_scores<D>(scores, qa, tiles->k[j % 2], lane);
    online_softmax<D>(scores, stats, o, scale, row, j * kRows, j + 1 == key_tiles, s.seq, lane);
    accumulate_values<D>(o, scores, tiles->v[j % 2], lane);
    __syncthreads();
  }
  store_rows<D>(o, stats, tiles->q, out, rows.query, lse + bh * s.seq, first, s.seq, warp, lane);
}

template <int D>
void launch_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                    bf16_bits* out, float* lse) {
  constexpr std::size_t kBytes = sizeof(FlashTiles<D>);  // above the default 48 KiB for D = 128
  const auto kernel = &flash_attention_forward_kernel<D>;
  check_cuda(cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(kBytes)),
             "cuda attention", "shared memory for the tensor-core forward");
  const dim3 grid(static_cast<unsigned>(s.batch * s.heads), static_cast<unsigned>((s.seq + kRows - 1) / kRows));
  DIVERGE_LAUNCH(flash_attention_forward_kernel<D>, grid, dim3(kThreads), kBytes, s, attention_scale(s), q, k, v,
                 out, lse);
}

}  // namespace

void flash_attention_forward(const AttentionShape& s, const bf16_bits* q, const bf16_bits* k, const bf16_bits* v,
                             bf16_bits* out, float* lse) {
  if (s.batch * s.seq * s.heads == 0) return;
  if (!aligned_16(q) || !aligned_16(k) || !aligned_16(v) || !aligned_16(out))
    throw Error("cuda attention", "q, k, v and out must be 16-byte aligned for the tensor-core forward");
  if ((s.seq + kRows - 1) / kRows > kMaxGridY)
    throw Error("cuda attention", "sequence of " + std::to_string(s.seq) + " exceeds the grid's query tiles");
  if (s.head_dim == 64) return launch_forward<64>(s, q, k, v, out, lse);
  if (s.head_dim == 128) return launch_forward<128>(s, q, k, v, out, lse);
  throw Error("cuda attention", "no tensor-core forward for head dim " + std::to_string(s.head_dim));
}

}  // namespace diverge::cuda
