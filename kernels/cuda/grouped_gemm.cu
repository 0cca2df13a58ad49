// Grouped expert products on tensor cores: 64 x 128 output tiles of 4 warps, mma.sync m16n8k16 on bf16 fragments
// that ldmatrix reads from swizzled shared memory, the reduction streamed through three cp.async stages. A rows
// product's block finds its expert and row tile from the device offsets; a weight gradient's block loops over its
// expert's rows. Every output element is one block's, summed in a fixed order: the same bits on every run.
#include "kernels/cuda/grouped_gemm.h"

#include <initializer_list>
#include <string>
#include <type_traits>

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/ptx.h"
#include "kernels/cuda/swiglu_math.h"
#include "kernels/cuda/swizzled_tile.h"

namespace diverge::cuda {
namespace {

constexpr int kTileRows = 64;   // output rows of a block
constexpr int kTileCols = 128;  // output columns of a block
constexpr int kTileDepth = 32;  // reduction steps per stage
constexpr int kStages = 3;
constexpr int kThreads = 128;  // 4 warps as 2 x 2, each owning 32 rows and 64 columns of the tile
constexpr int kWarpRows = 32;
constexpr int kRowFragments = kWarpRows / 16;  // m16 fragments of a warp
constexpr int kColFragments = 8;               // n8 fragments of a warp
constexpr unsigned kFullMask = 0xffffffffu;
constexpr std::int64_t kMaxGridX = 2147483647, kMaxGridYZ = 65535;

// How an operand's tile sits in shared memory. k_inner: a row per output row (of A) or column (of B), the reduction
// contiguous; k_outer: a row per reduction step, the output's rows or columns contiguous (read by ldmatrix.trans).
enum class Layout { k_inner, k_outer };

template <Layout L, int Extent>
using OperandTile =
    SwizzledTile<L == Layout::k_inner ? Extent : kTileDepth, L == Layout::k_inner ? kTileDepth : Extent>;

template <Layout A, Layout B>
struct Stage {
  OperandTile<A, kTileRows> a;
  OperandTile<B, kTileCols> b;
};

using Accumulators = float[kRowFragments][kColFragments][4];

// The row of a product's source matrix that holds the product's row `row`: the row itself, or, gathering, the token
// of the copy that grouped row holds; -1 (read as zeros) for a token outside the source's rows.
struct SourceRow {
  const std::int32_t* copy_of_row = nullptr;  // nullptr: no gather
  std::int64_t top_k = 1, source_rows = 0;

  __device__ std::int64_t operator()(std::int64_t row) const {
    if (copy_of_row == nullptr) return row;
    const std::int64_t token = copy_of_row[row] / top_k;
    return token >= 0 && token < source_rows ? token : -1;
  }
};

SourceRow source_row(const ExpertInputPtrs<const bf16_bits>& in) { return {in.copy_of_row, in.top_k, in.x_rows}; }

// Row r of a tile's source: row first + r of a (rows, width) matrix through `source`, or nullptr (zeros) from row
// end on.
struct RowsFrom {
  const bf16_bits* matrix;
  std::int64_t width, first, end;
  SourceRow source{};

  __device__ const bf16_bits* operator()(int r) const {
    const std::int64_t row = first + r;
    const std::int64_t at = row < end ? source(row) : -1;
    return at >= 0 ? matrix + at * width : nullptr;
  }
};

// Row r of a tile's source: the row that rows[r] names of a (rows, width) matrix, nullptr (zeros) for -1; rows in
// shared memory, looked up once for every step of the reduction.
struct RowsAt {
  const bf16_bits* matrix;
  std::int64_t width;
  const std::int32_t* rows;

  __device__ const bf16_bits* operator()(int r) const { return rows[r] >= 0 ? matrix + rows[r] * width : nullptr; }
};

// Elements col .. col + 7 of a source row into a shared chunk, zeros from limit on or for a missing row. vector: the
// widths are multiples of 8 and the rows 16-byte aligned, so a chunk is wholly inside or outside and one cp.async
// moves it; else element by element. Plain stores land at once, which is safe: the stage being filled is one that no
// warp reads until the next barrier.
__device__ __forceinline__ void load_chunk(bf16_bits* chunk, const bf16_bits* row, std::int64_t col,
                                           std::int64_t limit, bool vector) {
  if (row != nullptr && vector && col < limit) {
    cp_async_16(chunk, row + col);
    return;
  }
  for (int i = 0; i < kChunk; ++i) chunk[i] = row != nullptr && col + i < limit ? row[col + i] : bf16_bits{0};
}

// Every chunk of a tile, row r from row_of(r), columns col .. of limit; the caller commits the copies.
template <int Rows, int Cols, class RowOf>
__device__ void load_tile(SwizzledTile<Rows, Cols>& tile, const RowOf& row_of, std::int64_t col, std::int64_t limit,
                          bool vector) {
  constexpr int kChunks = Cols / kChunk;
  for (int e = static_cast<int>(threadIdx.x); e < Rows * kChunks; e += kThreads) {
    const int r = e / kChunks, c = e % kChunks;
    load_chunk(tile.chunk(r, c), row_of(r), col + c * kChunk, limit, vector);
  }
}

// The A fragment of 16 output rows from `first` and reduction steps 16 kk .. 16 kk + 15: ldmatrix's four matrices are
// rows 0-7 and 8-15 at steps 0-7, then at steps 8-15. A k_outer tile holds A transposed; ldmatrix.trans undoes it.
template <Layout L>
__device__ __forceinline__ void load_a(std::uint32_t (&a)[4], OperandTile<L, kTileRows>& tile, int first, int kk,
                                       int lane) {
  const int m = lane / 8, r = lane % 8;
  if constexpr (L == Layout::k_inner)
    ldmatrix<4, false>(a, tile.chunk(first + (m % 2) * 8 + r, 2 * kk + m / 2));
  else
    ldmatrix<4, true>(a, tile.chunk(16 * kk + (m / 2) * 8 + r, first / kChunk + m % 2));
}

// The B fragments of n8 fragments f and f + 1 at reduction steps 16 kk ..: ldmatrix's four matrices are fragment f's
// steps 0-7 and 8-15, then fragment f + 1's. A k_inner row is a column of the col-major B as it stands.
template <Layout L>
__device__ __forceinline__ void load_b_pair(std::uint32_t (&b)[4], OperandTile<L, kTileCols>& tile, int f, int kk,
                                            int lane) {
  const int m = lane / 8, r = lane % 8;
  if constexpr (L == Layout::k_inner)
    ldmatrix<4, false>(b, tile.chunk(f * 8 + (m / 2) * 8 + r, 2 * kk + m % 2));
  else
    ldmatrix<4, true>(b, tile.chunk(16 * kk + (m % 2) * 8 + r, f + m / 2));
}

// Which of the tile's n8 fragments warp column wn owns, and where its fragment j lands in the output. Plain: 8
// adjacent ones of a 128-column tile. Paired, the fused gate and up product: the tile holds 64 gate columns then the
// same 64 up columns; a warp owns 4 fragments of each half, so that fragment j + 4 holds the up of fragment j's gate.
struct PlainColumns {
  static constexpr int kBlockColumns = kTileCols;  // output columns of a block
  static constexpr int kOutputFragments = kColFragments;
  static __device__ int fragment(int wn, int j) { return wn * kColFragments + j; }
  static __device__ int output_column(int wn, int j) { return fragment(wn, j) * 8; }
};

struct PairedColumns {
  static constexpr int kBlockColumns = kTileCols / 2;
  static constexpr int kOutputFragments = kColFragments / 2;
  static __device__ int fragment(int wn, int j) { return (j / 4) * kColFragments + wn * 4 + j % 4; }
  static __device__ int output_column(int wn, int j) { return (wn * 4 + j) * 8; }
};

// acc += one stage: each warp's 32 x 64 block of the tile.
template <Layout A, Layout B, class Columns>
__device__ void multiply_stage(Accumulators& acc, Stage<A, B>& stage, int wm, int wn, int lane) {
  for (int kk = 0; kk < kTileDepth / 16; ++kk) {
    std::uint32_t a[kRowFragments][4];
    for (int i = 0; i < kRowFragments; ++i) load_a<A>(a[i], stage.a, wm * kWarpRows + 16 * i, kk, lane);
    for (int j = 0; j < kColFragments; j += 2) {
      std::uint32_t b[4];
      load_b_pair<B>(b, stage.b, Columns::fragment(wn, j), kk, lane);
      const std::uint32_t first[2] = {b[0], b[1]}, second[2] = {b[2], b[3]};
      for (int i = 0; i < kRowFragments; ++i) {
        mma_m16n8k16_bf16(acc[i][j], a[i], first, acc[i][j]);
        mma_m16n8k16_bf16(acc[i][j + 1], a[i], second, acc[i][j + 1]);
      }
    }
  }
}

// acc = the product over `steps` stages of the reduction, in order; load_stage(stage, t) issues step t's copies. The
// copies of kStages - 1 steps are in flight while one is multiplied.
template <Layout A, Layout B, class Columns, class LoadStage>
__device__ void multiply(Accumulators& acc, Stage<A, B>* stages, int steps, const LoadStage& load_stage) {
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  for (auto& row : acc)
    for (auto& fragment : row)
      for (float& x : fragment) x = 0.0f;
  for (int t = 0; t < kStages - 1; ++t) {
    if (t < steps) load_stage(stages[t], t);
    cp_async_commit();  // empty groups too, so that the waits below count the same in every iteration
  }
  for (int t = 0; t < steps; ++t) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // step t is in place for every thread, and every warp is done with step t - 1's stage
    const int next = t + kStages - 1;
    if (next < steps) load_stage(stages[next % kStages], next);  // into step t - 1's stage
    cp_async_commit();
    multiply_stage<A, B, Columns>(acc, stages[t % kStages], warp / 2, warp % 2, lane);
  }
  cp_async_wait<0>();
}

// write(row, col, i, j, h) for each pair of output columns col, col + 1 the thread holds: accumulator elements
// acc[i][j][2 h] and [2 h + 1], rows from `first` below `end`.
template <class Columns, class Write>
__device__ void for_each_pair(std::int64_t first, std::int64_t end, std::int64_t col0, const Write& write) {
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  DIVERGE_UNROLL
  for (int i = 0; i < kRowFragments; ++i)
    DIVERGE_UNROLL
    for (int h = 0; h < 2; ++h) {
      const std::int64_t row = first + (warp / 2) * kWarpRows + 16 * i + lane / 4 + 8 * h;
      if (row >= end) continue;
      DIVERGE_UNROLL
      for (int j = 0; j < Columns::kOutputFragments; ++j)
        write(row, col0 + Columns::output_column(warp % 2, j) + 2 * (lane % 4), i, j, h);
    }
}

// Expert e's rows with its offsets clamped into [0, R], an end below the begin read as no rows.
struct ExpertRange {
  std::int64_t begin, end;
};

__device__ ExpertRange expert_range(const GroupedRows& g, std::int64_t e) {
  const auto clamped = [&](std::int32_t offset) {
    return offset < 0 ? std::int64_t{0} : offset > g.rows ? g.rows : std::int64_t{offset};
  };
  const std::int64_t begin = clamped(g.offsets[e]), end = clamped(g.offsets[e + 1]);
  return {begin, end > begin ? end : begin};
}

struct ExpertTile {
  std::int64_t expert;  // -1: the block is past the last expert's tiles
  std::int64_t first;   // the tile's first row
  std::int64_t end;     // the expert's end
};

// Row tile `tile` counting expert by expert (an expert of c rows has ceil(c / kTileRows) tiles): warp 0 takes the
// experts' tile counts 32 at a time, a shuffle prefix sum over them, until the running total passes `tile`.
__device__ void find_row_tile(const GroupedRows& g, std::int64_t tile, ExpertTile& found) {
  if (threadIdx.x >= 32) return;
  const int lane = static_cast<int>(threadIdx.x);
  std::int64_t before = 0;  // the tiles of the experts already passed
  for (std::int64_t base = 0; base < g.experts; base += 32) {
    const std::int64_t e = base + lane;
    const ExpertRange range = e < g.experts ? expert_range(g, e) : ExpertRange{0, 0};
    const auto tiles = static_cast<int>((range.end - range.begin + kTileRows - 1) / kTileRows);
    int through = tiles;  // the tiles of lanes 0 .. lane
    for (int d = 1; d < 32; d *= 2) {
      const int below = __shfl_up_sync(kFullMask, through, static_cast<unsigned>(d));
      if (lane >= d) through += below;
    }
    const unsigned hit = __ballot_sync(kFullMask, before + through > tile);
    if (hit != 0) {
      const bool first_hit = (hit >> lane & 1u) != 0 && (hit & ((1u << lane) - 1u)) == 0;
      if (first_hit) found = {e, range.begin + (tile - (before + through - tiles)) * kTileRows, range.end};
      return;
    }
    before += __shfl_sync(kFullMask, through, 31);
  }
  if (lane == 0) found = {-1, 0, 0};
}

// What a rows product's epilogue does with the fp32 sums.
enum class Epilogue {
  store,            // out[0] = the product
  swiglu,           // out[0], out[1], out[2] = gate, up (each rounded) and silu(gate) * up (Paired columns)
  swiglu_backward,  // out[0], out[1] = d gate, d up of d hidden = the product at saved[0], saved[1] = gate, up
};

// out (R, n) over each expert's rows of a (R, k) W[e], W[e] (n, k) for a k_inner B, (k, n) for a k_outer one. With
// two parts the reduction runs over a[0] W[0] then a[1] W[1]; Paired columns read gate and up from w[0] and w[1].
// a's rows are read through a_source: a gathering product's a[0] is the (tokens, k) token rows.
struct RowsProduct {
  GroupedRows g;
  std::int64_t n, k;
  int parts;
  SourceRow a_source{};
  const bf16_bits* a[2] = {};  // the pointers a product does not use stay null
  const bf16_bits* w[2] = {};
  bf16_bits* out[3] = {};
  const bf16_bits* saved[2] = {};
  bool vector;
};

// Tile row c of a k_inner B: row c of the block's columns from col0 of w, the part's weights (Paired: the tile's
// second half from the up weights).
template <class Columns>
__device__ const bf16_bits* weight_row(const RowsProduct& p, const bf16_bits* w, std::int64_t expert,
                                       std::int64_t col0, int c) {
  if constexpr (std::is_same_v<Columns, PairedColumns>) w = c < Columns::kBlockColumns ? p.w[0] : p.w[1];
  const std::int64_t col = col0 + c % Columns::kBlockColumns;
  return col < p.n ? w + (expert * p.n + col) * p.k : nullptr;
}

template <Epilogue E>
__device__ void write_rows(const RowsProduct& p, const Accumulators& acc, std::int64_t row, std::int64_t col, int i,
                           int j, int h) {
  DIVERGE_UNROLL
  for (int c = 0; c < 2; ++c) {
    if (col + c >= p.n) continue;  // not a break: a loop of fixed length keeps acc in registers
    const std::int64_t at = row * p.n + col + c;
    const float value = acc[i][j][2 * h + c];
    if constexpr (E == Epilogue::store) {
      store_bf16(p.out[0] + at, value);
    } else if constexpr (E == Epilogue::swiglu) {
      const float gate = rounded_to_bf16(value), up = rounded_to_bf16(acc[i][j + 4][2 * h + c]);
      store_bf16(p.out[0] + at, gate);
      store_bf16(p.out[1] + at, up);
      store_bf16(p.out[2] + at, swiglu(gate, up));
    } else {
      const SwigluGradients d = swiglu_gradients(value, load_bf16(p.saved[0] + at), load_bf16(p.saved[1] + at));
      store_bf16(p.out[0] + at, d.gate);
      store_bf16(p.out[1] + at, d.up);
    }
  }
}

template <Layout B>
struct RowsShared {
  Stage<Layout::k_inner, B> stages[kStages];
  ExpertTile tile;
  std::int32_t a_rows[kTileRows];  // the source row of each of the tile's rows of a, -1 past the expert's end
};

// Block (x, y): row tile x of all experts' tiles in expert order (blocks past them exit), output columns y.
template <Layout B, class Columns, Epilogue E>
__global__ void rows_product_kernel(RowsProduct p) {
  DIVERGE_DYNAMIC_SHARED(RowsShared<B>, shared);
  find_row_tile(p.g, blockIdx.x, shared->tile);
  __syncthreads();
  const ExpertTile tile = shared->tile;
  if (tile.expert < 0) return;
  for (int r = static_cast<int>(threadIdx.x); r < kTileRows; r += kThreads)
    shared->a_rows[r] = static_cast<std::int32_t>(tile.first + r < tile.end ? p.a_source(tile.first + r) : -1);
  // The first stage's loads read a_rows: multiply's barriers come after them.
  __syncthreads();
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.y) * Columns::kBlockColumns;
  const auto depth = static_cast<int>((p.k + kTileDepth - 1) / kTileDepth);
  const auto load_stage = [&](Stage<Layout::k_inner, B>& stage, int t) {
    // The part's pointers by a select, not an index: a dynamic index into the parameters would copy them to the stack.
    const bool second = t >= depth;
    const std::int64_t k0 = static_cast<std::int64_t>(t - (second ? depth : 0)) * kTileDepth;
    load_tile(stage.a, RowsAt{second ? p.a[1] : p.a[0], p.k, shared->a_rows}, k0, p.k, p.vector);
    const bf16_bits* w = second ? p.w[1] : p.w[0];
    if constexpr (B == Layout::k_inner) {
      load_tile(stage.b, [&](int c) { return weight_row<Columns>(p, w, tile.expert, col0, c); }, k0, p.k, p.vector);
    } else {
      load_tile(stage.b, RowsFrom{w + tile.expert * p.k * p.n, p.n, k0, p.k}, col0, p.n, p.vector);
    }
  };
  Accumulators acc;
  multiply<Layout::k_inner, B, Columns>(acc, shared->stages, depth * p.parts, load_stage);
  for_each_pair<Columns>(tile.first, tile.end, col0, [&](std::int64_t row, std::int64_t col, int i, int j, int h) {
    write_rows<E>(p, acc, row, col, i, j, h);
  });
}

// dw[e] (m, n) += grad[rows of e]^T x[rows of e], grad (R, m) and x (R, n) read through x_source.
struct WeightProduct {
  GroupedRows g;
  const bf16_bits* grad;
  const bf16_bits* x;
  SourceRow x_source;
  std::int64_t m, n;
  float* dw;
  bool vector;
};

// Block (x, y, z): columns x and rows y of expert z's dw, the expert's rows in order as the reduction.
__global__ void weight_gradient_kernel(WeightProduct p) {
  using WeightStage = Stage<Layout::k_outer, Layout::k_outer>;
  DIVERGE_DYNAMIC_SHARED(WeightStage, stages);
  const std::int64_t e = blockIdx.z;
  const ExpertRange range = expert_range(p.g, e);
  if (range.end == range.begin) return;
  const std::int64_t row0 = static_cast<std::int64_t>(blockIdx.y) * kTileRows;
  const std::int64_t col0 = static_cast<std::int64_t>(blockIdx.x) * kTileCols;
  const auto load_stage = [&](WeightStage& stage, int t) {
    const std::int64_t first = range.begin + static_cast<std::int64_t>(t) * kTileDepth;
    load_tile(stage.a, RowsFrom{p.grad, p.m, first, range.end}, row0, p.m, p.vector);
    load_tile(stage.b, RowsFrom{p.x, p.n, first, range.end, p.x_source}, col0, p.n, p.vector);
  };
  Accumulators acc;
  multiply<Layout::k_outer, Layout::k_outer, PlainColumns>(
      acc, stages, static_cast<int>((range.end - range.begin + kTileDepth - 1) / kTileDepth), load_stage);
  float* dw = p.dw + e * p.m * p.n;
  for_each_pair<PlainColumns>(row0, p.m, col0, [&](std::int64_t row, std::int64_t col, int i, int j, int h) {
    for (int c = 0; c < 2; ++c)
      if (col + c < p.n) dw[row * p.n + col + c] += acc[i][j][2 * h + c];
  });
}

// Whether every operand row can move as 16-byte chunks: widths multiples of 8 and bases 16-byte aligned.
bool vector_rows(std::initializer_list<std::int64_t> widths, std::initializer_list<const void*> bases) {
  for (std::int64_t width : widths)
    if (width % kChunk != 0) return false;
  for (const void* base : bases)
    if (!aligned_16(base)) return false;
  return true;
}

void check_grid(std::int64_t blocks, std::int64_t limit, const char* what) {
  if (blocks > limit)
    throw Error("cuda grouped gemm", std::to_string(blocks) + " " + what + " exceed the grid's " +
                                         std::to_string(limit));
}

template <Layout B, class Columns, Epilogue E>
void launch_rows(const RowsProduct& p) {
  if (p.g.rows == 0 || p.n == 0) return;
  const std::int64_t row_tiles = (p.g.rows + kTileRows - 1) / kTileRows + p.g.experts;
  const std::int64_t col_tiles = (p.n + Columns::kBlockColumns - 1) / Columns::kBlockColumns;
  check_grid(row_tiles, kMaxGridX, "row tiles");
  check_grid(col_tiles, kMaxGridYZ, "column tiles");
  const auto rows_product = &rows_product_kernel<B, Columns, E>;
  DIVERGE_LAUNCH(rows_product, dim3(static_cast<unsigned>(row_tiles), static_cast<unsigned>(col_tiles)),
                 dim3(kThreads), sizeof(RowsShared<B>), p);
}

}  // namespace

void grouped_product(const GroupedRows& g, const bf16_bits* a, const bf16_bits* w, std::int64_t n, std::int64_t k,
                     bf16_bits* out) {
  const RowsProduct p{.g = g, .n = n, .k = k, .parts = 1, .a = {a}, .w = {w}, .out = {out},
                      .vector = vector_rows({n, k}, {a, w})};
  launch_rows<Layout::k_inner, PlainColumns, Epilogue::store>(p);
}

void grouped_swiglu_forward(const GroupedRows& g, ExpertInputPtrs<const bf16_bits> x, const bf16_bits* w_gate,
                            const bf16_bits* w_up, std::int64_t hidden, std::int64_t dim,
                            ExpertSavedPtrs<bf16_bits> saved) {
  const RowsProduct p{.g = g, .n = hidden, .k = dim, .parts = 1, .a_source = source_row(x), .a = {x.x},
                      .w = {w_gate, w_up}, .out = {saved.gate, saved.up, saved.hidden},
                      .vector = vector_rows({hidden, dim}, {x.x, w_gate, w_up})};
  launch_rows<Layout::k_inner, PairedColumns, Epilogue::swiglu>(p);
}

void grouped_swiglu_backward(const GroupedRows& g, const bf16_bits* dout, const bf16_bits* w_down, std::int64_t hidden,
                             std::int64_t dim, const bf16_bits* gate, const bf16_bits* up, bf16_bits* dgate,
                             bf16_bits* dup) {
  const RowsProduct p{.g = g, .n = hidden, .k = dim, .parts = 1, .a = {dout}, .w = {w_down}, .out = {dgate, dup},
                      .saved = {gate, up}, .vector = vector_rows({hidden, dim}, {dout, w_down})};
  launch_rows<Layout::k_outer, PlainColumns, Epilogue::swiglu_backward>(p);
}

void grouped_input_gradient(const GroupedRows& g, const bf16_bits* dgate, const bf16_bits* dup,
                            const bf16_bits* w_gate, const bf16_bits* w_up, std::int64_t hidden, std::int64_t dim,
                            bf16_bits* dx) {
  const RowsProduct p{.g = g, .n = dim, .k = hidden, .parts = 2, .a = {dgate, dup}, .w = {w_gate, w_up}, .out = {dx},
                      .vector = vector_rows({hidden, dim}, {dgate, dup, w_gate, w_up})};
  launch_rows<Layout::k_outer, PlainColumns, Epilogue::store>(p);
}

void grouped_weight_gradient(const GroupedRows& g, const bf16_bits* grad, ExpertInputPtrs<const bf16_bits> x,
                             std::int64_t m, std::int64_t n, float* dw) {
  if (g.rows == 0 || g.experts == 0 || m == 0 || n == 0) return;
  check_grid(g.experts, kMaxGridYZ, "experts");
  check_grid((m + kTileRows - 1) / kTileRows, kMaxGridYZ, "row tiles");
  const WeightProduct p{g, grad, x.x, source_row(x), m, n, dw, vector_rows({m, n}, {grad, x.x})};
  const dim3 grid(static_cast<unsigned>((n + kTileCols - 1) / kTileCols),
                  static_cast<unsigned>((m + kTileRows - 1) / kTileRows), static_cast<unsigned>(g.experts));
  DIVERGE_LAUNCH(weight_gradient_kernel, grid, dim3(kThreads), sizeof(Stage<Layout::k_outer, Layout::k_outer>), p);
}

}  // namespace diverge::cuda
