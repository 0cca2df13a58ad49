// The emulator's self-test kernels: a block reduction, warp shuffles and votes, a shared-memory race, and misuse.
#include "tests/emulator/selftest_kernels.h"

#include "kernels/cuda/cuda_source.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/ptx.h"

namespace diverge::emu_test {
namespace {

void check(cudaError_t error) {
  if (error != cudaSuccess) throw std::runtime_error(std::string("CUDA call failed: ") + cudaGetErrorString(error));
}

// Device memory for n elements, copied in from and out to host vectors.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(std::size_t n) : n_(n) { check(cudaMalloc(&data_, n * sizeof(T))); }
  explicit DeviceArray(const std::vector<T>& host) : DeviceArray(host.size()) {
    cuda::copy_to_device(data_, host.data(), n_ * sizeof(T));
  }
  ~DeviceArray() { cudaFree(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return data_; }
  std::vector<T> to_host() const {
    std::vector<T> host(n_);
    cuda::copy_to_host(host.data(), data_, n_ * sizeof(T));
    return host;
  }

 private:
  std::size_t n_;
  T* data_ = nullptr;
};

__global__ void row_sums_kernel(const float* x, float* sums, int cols) {
  DIVERGE_DYNAMIC_SHARED(float, partial);  // (blockDim.x)
  const float* row = x + static_cast<long>(blockIdx.x) * cols;
  float sum = 0.0f;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) sum += row[c];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) sums[blockIdx.x] = partial[0];
}

__global__ void shuffle_kernel(const int* cases, int* out) {
  const int lane = threadIdx.x;
  const int mode = cases[3 * blockIdx.x], arg = cases[3 * blockIdx.x + 1], width = cases[3 * blockIdx.x + 2];
  const int value = lane * 10 + 1;
  int got = 0;
  if (mode == 0) got = __shfl_sync(0xffffffffu, value, arg, width);
  if (mode == 1) got = __shfl_up_sync(0xffffffffu, value, static_cast<unsigned>(arg), width);
  if (mode == 2) got = __shfl_down_sync(0xffffffffu, value, static_cast<unsigned>(arg), width);
  if (mode == 3) got = __shfl_xor_sync(0xffffffffu, value, arg, width);
  out[blockIdx.x * 32 + lane] = got;
}

__global__ void votes_kernel(unsigned* out) {
  const unsigned lane = threadIdx.x;
  unsigned* mine = out + 7 * lane;
  mine[0] = __ballot_sync(0xffffffffu, lane % 3 == 0);
  mine[1] = static_cast<unsigned>(__any_sync(0xffffffffu, lane == 7));
  mine[2] = static_cast<unsigned>(__all_sync(0xffffffffu, lane < 32));
  mine[3] = static_cast<unsigned>(__all_sync(0xffffffffu, lane < 31));
  mine[4] = __match_any_sync(0xffffffffu, lane / 4);
  // Each half-warp reduces on its own, with its own mask, in its own branch.
  const unsigned half_mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  unsigned sum = lane;
  if (lane < 16) {
    for (unsigned offset = 8; offset > 0; offset /= 2) sum += __shfl_down_sync(half_mask, sum, offset, 16);
  } else {
    for (unsigned offset = 8; offset > 0; offset /= 2) sum += __shfl_down_sync(half_mask, sum, offset, 16);
  }
  mine[5] = sum;
  // Lanes below 20 match among themselves while the others already wait at the full-warp __syncwarp below: a
  // collective of a smaller mask may complete while one of the whole warp is pending.
  mine[6] = 0;
  if (lane < 20) mine[6] = __match_any_sync(0x000fffffu, lane / 8);
  __syncwarp();
}

__global__ void neighbour_kernel(int* seen, bool with_barrier) {
  DIVERGE_DYNAMIC_SHARED(int, slots);  // (blockDim.x)
  slots[threadIdx.x] = static_cast<int>(threadIdx.x);
  if (with_barrier) __syncthreads();
  const unsigned right = (threadIdx.x + 1) % blockDim.x;
  seen[threadIdx.x] = slots[right] == static_cast<int>(right) ? 1 : 0;
}

__global__ void mma_kernel(const __nv_bfloat16* a, const __nv_bfloat16* b, const float* c, float* d) {
  __shared__ __align__(16) __nv_bfloat16 tile_a[16 * 16];  // (16, 16) row-major
  __shared__ __align__(16) __nv_bfloat16 tile_b[16 * 8];   // (16, 8): k rows of n
  const int lane = static_cast<int>(threadIdx.x);
  for (int i = lane; i < 16 * 16; i += 32) tile_a[i] = a[i];
  for (int i = lane; i < 16 * 8; i += 32) tile_b[i] = b[i];
  __syncthreads();
  // Lane l addresses row l % 8 of matrix l / 8; A's four 8x8 matrices in fragment order: rows 0-7 and 8-15 of
  // columns 0-7, then of columns 8-15. B's two are k rows 0-7 and 8-15, transposed into column fragments.
  const int matrix = lane / 8, row = lane % 8;
  std::uint32_t fa[4], fb[2];
  cuda::ldmatrix<4, false>(fa, &tile_a[(row + (matrix % 2) * 8) * 16 + (matrix / 2) * 8]);
  cuda::ldmatrix<2, true>(fb, &tile_b[(row + (matrix % 2) * 8) * 8]);
  const int g = lane / 4, t = lane % 4;
  float fc[4], fd[4];
  for (int i = 0; i < 4; ++i) fc[i] = c[(g + (i / 2) * 8) * 8 + 2 * t + i % 2];
  cuda::mma_m16n8k16_bf16(fd, fa, fb, fc);
  for (int i = 0; i < 4; ++i) d[(g + (i / 2) * 8) * 8 + 2 * t + i % 2] = fd[i];
}

__global__ void divergent_barrier_kernel(int* out) {
  if (threadIdx.x % 2 == 0) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void barrier_after_exit_kernel(int* out) {
  if (threadIdx.x >= blockDim.x / 2) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void shuffle_outside_mask_kernel(int* out) {
  if (threadIdx.x >= 16) return;
  const int source = threadIdx.x == 3 ? 20 : static_cast<int>(threadIdx.x);
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, static_cast<int>(threadIdx.x), source);
}

__global__ void different_collectives_kernel(int* out) {
  int value = static_cast<int>(threadIdx.x);
  if (threadIdx.x < 16) {
    value = __shfl_sync(0xffffffffu, value, 0);
  } else {
    value = __shfl_sync(0xffffffffu, value, 1);
  }
  out[threadIdx.x] = value;
}

__device__ float row_sum(const float* tile, unsigned row) {
  float sum = 0.0f;
  for (unsigned k = 0; k < 4; ++k) sum += tile[row * 4 + k];
  return sum;
}

__global__ void async_copy_kernel(const float* x, float* out, unsigned partial_from, bool read_early) {
  DIVERGE_DYNAMIC_SHARED(float, tiles);  // (2, 32, 4)
  const unsigned t = threadIdx.x, next = (t + 1) % 32;
  const unsigned bytes = t >= partial_from ? 8 : 16;
  cuda::cp_async_16(&tiles[t * 4], &x[t * 4], bytes);
  cuda::cp_async_commit();
  cuda::cp_async_16(&tiles[128 + t * 4], &x[128 + t * 4], bytes);
  cuda::cp_async_commit();
  if (!read_early) cuda::cp_async_wait<1>();
  __syncthreads();
  // Read early, its own row: no other thread's wait can have completed that copy.
  out[2 * t] = row_sum(tiles, read_early ? t : next);
  cuda::cp_async_wait<0>();
  __syncthreads();
  out[2 * t + 1] = row_sum(tiles + 128, next);
}

__global__ void async_copy_unwaited_kernel(int* out) {
  DIVERGE_DYNAMIC_SHARED(int, slots);  // (4 * blockDim.x)
  cuda::cp_async_16(&slots[4 * threadIdx.x], &out[4 * threadIdx.x]);
  cuda::cp_async_commit();
}

__global__ void async_copy_misaligned_kernel(int* out) {
  DIVERGE_DYNAMIC_SHARED(int, slots);  // (4 * blockDim.x + 1)
  cuda::cp_async_16(&slots[4 * threadIdx.x + 1], &out[4 * threadIdx.x]);
  cuda::cp_async_commit();
  cuda::cp_async_wait<0>();
}

__global__ void out_of_bounds_kernel(float* x, int n) {
  if (threadIdx.x == 0) x[n] = 1.0f;
}

}  // namespace

std::vector<float> block_row_sums(const std::vector<float>& x, int rows, int cols, int threads) {
  DeviceArray<float> input(x), sums(static_cast<std::size_t>(rows));
  DIVERGE_LAUNCH(row_sums_kernel, dim3(rows), dim3(threads), threads * sizeof(float), input.get(),
                 sums.get(), cols);
  return sums.to_host();
}

std::vector<int> warp_shuffles(const std::vector<ShuffleCase>& cases) {
  std::vector<int> flat;
  for (const auto& c : cases) flat.insert(flat.end(), {c.mode, c.arg, c.width});
  DeviceArray<int> input(flat), out(cases.size() * 32);
  DIVERGE_LAUNCH(shuffle_kernel, dim3(static_cast<unsigned>(cases.size())), dim3(32), 0, input.get(),
                 out.get());
  return out.to_host();
}

std::vector<unsigned> warp_votes() {
  DeviceArray<unsigned> out(7 * 32);
  DIVERGE_LAUNCH(votes_kernel, dim3(1), dim3(32), 0, out.get());
  return out.to_host();
}

int neighbour_reads(int threads, bool with_barrier) {
  DeviceArray<int> seen(static_cast<std::size_t>(threads));
  DIVERGE_LAUNCH(neighbour_kernel, dim3(1), dim3(threads), threads * sizeof(int), seen.get(), with_barrier);
  int count = 0;
  for (int s : seen.to_host()) count += s;
  return count;
}

std::vector<float> mma_tile(const std::vector<float>& a, const std::vector<float>& b, const std::vector<float>& c) {
  auto to_bf16 = [](const std::vector<float>& values) {
    std::vector<__nv_bfloat16> out;
    for (float v : values) out.push_back(__float2bfloat16(v));
    return out;
  };
  DeviceArray<__nv_bfloat16> da(to_bf16(a)), db(to_bf16(b));
  DeviceArray<float> dc(c), dd(16 * 8);
  DIVERGE_LAUNCH(mma_kernel, dim3(1), dim3(32), 0, da.get(), db.get(), dc.get(), dd.get());
  return dd.to_host();
}

std::vector<float> async_copy_sums(const std::vector<float>& x, int partial_from, bool read_early) {
  DeviceArray<float> input(x), out(64);
  DIVERGE_LAUNCH(async_copy_kernel, dim3(1), dim3(32), 256 * sizeof(float), input.get(), out.get(),
                 static_cast<unsigned>(partial_from), read_early);
  return out.to_host();
}

// One block of `threads` threads running kernel(out) over a fresh array of 4 ints per thread, with as much dynamic
// shared memory and 16 bytes more, then a wait for the device: where a deferred stream reports the fault.
void run_one_block(const char* name, void (*kernel)(int*), unsigned threads) {
  DeviceArray<int> out(4 * threads);
  cuda::launch_kernel(name, __FILE__, __LINE__, kernel, dim3(1), dim3(threads), (4 * threads + 4) * sizeof(int),
                      out.get());
  check(cudaStreamSynchronize(cuda::launch_stream()));
}
#define DIVERGE_RUN_ONE_BLOCK(kernel, threads) run_one_block(#kernel, kernel, threads)

void divergent_barrier() { DIVERGE_RUN_ONE_BLOCK(divergent_barrier_kernel, 64); }
void barrier_after_exit() { DIVERGE_RUN_ONE_BLOCK(barrier_after_exit_kernel, 64); }
void shuffle_outside_mask() { DIVERGE_RUN_ONE_BLOCK(shuffle_outside_mask_kernel, 32); }
void different_collectives() { DIVERGE_RUN_ONE_BLOCK(different_collectives_kernel, 32); }
void async_copy_unwaited() { DIVERGE_RUN_ONE_BLOCK(async_copy_unwaited_kernel, 32); }
void async_copy_misaligned() { DIVERGE_RUN_ONE_BLOCK(async_copy_misaligned_kernel, 32); }

void out_of_bounds_write() {
  const int n = 1000;
  DeviceArray<float> x(static_cast<std::size_t>(n));
  DIVERGE_LAUNCH(out_of_bounds_kernel, dim3(1), dim3(32), 0, x.get(), n);
}

}  // namespace diverge::emu_test
