// CUDA RMSNorm: a warp per row for the statistics and dx; the weight gradient as fixed row chunks, then their sum.
#include "kernels/cuda/rmsnorm.h"

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/warp_reduce.h"

namespace diverge::cuda {
namespace {

constexpr int kWarpsPerBlock = 8;
constexpr int kRowChunk = 128;  // rows per partial of the weight gradient: the summation order depends on rows alone
constexpr int kColumnThreads = 128;

__global__ void rmsnorm_forward_kernel(const bf16_bits* x, const bf16_bits* weight, std::int64_t rows, int cols,
                                       float eps, bf16_bits* y, float* rstd) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps only: the shuffles below see full masks
  const bf16_bits* xr = x + row * cols;
  float sum_squares = 0.0f;
  for (int c = lane; c < cols; c += 32) {
    const float v = load_bf16(xr + c);
    sum_squares += v * v;
  }
  const float inv = 1.0f / sqrtf(warp_sum(sum_squares) / static_cast<float>(cols) + eps);
  if (lane == 0) rstd[row] = inv;
  for (int c = lane; c < cols; c += 32) store_bf16(y + row * cols + c, load_bf16(xr + c) * inv * load_bf16(weight + c));
}

// dx_c = rstd * (w_c dy_c - x_c * rstd^2 * mean_j(w_j dy_j x_j)), as the CPU reference.
__global__ void rmsnorm_dx_kernel(const bf16_bits* dy, const bf16_bits* x, const bf16_bits* weight, const float* rstd,
                                  std::int64_t rows, int cols, bf16_bits* dx) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= rows) return;
  const bf16_bits* xr = x + row * cols;
  const bf16_bits* dyr = dy + row * cols;
  float projection = 0.0f;
  for (int c = lane; c < cols; c += 32) projection += load_bf16(weight + c) * load_bf16(dyr + c) * load_bf16(xr + c);
  const float inv = rstd[row];
  const float correction = inv * inv * warp_sum(projection) / static_cast<float>(cols);
  for (int c = lane; c < cols; c += 32)
    store_bf16(dx + row * cols + c, inv * (load_bf16(weight + c) * load_bf16(dyr + c) - load_bf16(xr + c) * correction));
}

// partial (chunks, cols): column sums of dy * x * rstd over one chunk of kRowChunk rows.
__global__ void rmsnorm_dweight_partial_kernel(const bf16_bits* dy, const bf16_bits* x, const float* rstd,
                                               std::int64_t rows, std::int64_t cols, float* partial) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kColumnThreads + threadIdx.x;
  if (col >= cols) return;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * kRowChunk;
  const std::int64_t end = begin + kRowChunk < rows ? begin + kRowChunk : rows;
  float sum = 0.0f;
  for (std::int64_t r = begin; r < end; ++r) sum += load_bf16(dy + r * cols + col) * load_bf16(x + r * cols + col) * rstd[r];
  partial[blockIdx.y * cols + col] = sum;
}

__global__ void add_chunk_sums_kernel(const float* partial, std::int64_t chunks, std::int64_t cols, float* dweight) {
  const std::int64_t col = static_cast<std::int64_t>(blockIdx.x) * kColumnThreads + threadIdx.x;
  if (col >= cols) return;
  float sum = 0.0f;
  for (std::int64_t chunk = 0; chunk < chunks; ++chunk) sum += partial[chunk * cols + col];
  dweight[col] += sum;
}

dim3 row_blocks(std::int64_t rows) { return dim3(static_cast<unsigned>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock)); }

}  // namespace

void rmsnorm_forward(const bf16_bits* x, const bf16_bits* weight, std::int64_t rows, std::int64_t cols, float eps,
                     bf16_bits* y, float* rstd) {
  if (rows == 0) return;
  DIVERGE_LAUNCH(rmsnorm_forward_kernel, row_blocks(rows), dim3(32 * kWarpsPerBlock), 0, x, weight, rows,
                 static_cast<int>(cols), eps, y, rstd);
}

void rmsnorm_backward(const bf16_bits* dy, const bf16_bits* x, const bf16_bits* weight, const float* rstd,
                      std::int64_t rows, std::int64_t cols, bf16_bits* dx, float* dweight) {
  if (rows == 0) return;
  DIVERGE_LAUNCH(rmsnorm_dx_kernel, row_blocks(rows), dim3(32 * kWarpsPerBlock), 0, dy, x, weight, rstd, rows,
                 static_cast<int>(cols), dx);
  static Scratch scratch("rmsnorm weight-gradient partials");
  const std::int64_t chunks = (rows + kRowChunk - 1) / kRowChunk;
  float* partial = scratch.get<float>(static_cast<std::size_t>(chunks * cols));
  const auto column_blocks = static_cast<unsigned>((cols + kColumnThreads - 1) / kColumnThreads);
  DIVERGE_LAUNCH(rmsnorm_dweight_partial_kernel, dim3(column_blocks, static_cast<unsigned>(chunks)),
                 dim3(kColumnThreads), 0, dy, x, rstd, rows, cols, partial);
  DIVERGE_LAUNCH(add_chunk_sums_kernel, dim3(column_blocks), dim3(kColumnThreads), 0, partial, chunks, cols,
                 dweight);
}

}  // namespace diverge::cuda
