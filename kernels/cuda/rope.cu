// CUDA RoPE: a thread per (position, head, frequency) pair, rotating x[i] and x[i + half] with cached tables.
#include "kernels/cuda/rope.h"

#include <cmath>
#include <vector>

#include "kernels/cuda/bf16.h"
#include "kernels/cuda/grid.h"
#include "kernels/cuda/memory.h"

namespace diverge::cuda {
namespace {

constexpr int kThreads = 256;

// cos and sin (seq, half) of every angle t * theta^(-2i / head_dim), on the device, kept for the next call.
class RopeTables {
 public:
  ~RopeTables() { release(cos_); }

  // The tables for theta and head_dim, covering at least `seq` positions: cos at [0, seq * half), sin after it.
  const float* get(float theta, std::int64_t head_dim, std::int64_t seq) {
    if (theta != theta_ || head_dim != head_dim_ || seq > seq_) build(theta, head_dim, seq);
    return cos_;
  }
  std::int64_t seq() const { return seq_; }

 private:
  // The same float arithmetic as kernels/cpu/rope.cpp, so both backends rotate by the very same table entries.
  void build(float theta, std::int64_t head_dim, std::int64_t seq) {
    const std::int64_t half = head_dim / 2;
    std::vector<float> host(static_cast<std::size_t>(2 * seq * half));
    for (std::int64_t i = 0; i < half; ++i) {
      const float inv_freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
      for (std::int64_t t = 0; t < seq; ++t) {
        const float angle = static_cast<float>(t) * inv_freq;
        host[static_cast<std::size_t>(t * half + i)] = std::cos(angle);
        host[static_cast<std::size_t>(seq * half + t * half + i)] = std::sin(angle);
      }
    }
    release(cos_);
    cos_ = static_cast<float*>(allocate(host.size() * sizeof(float), "rope tables"));
    copy_to_device(cos_, host.data(), host.size() * sizeof(float));
    theta_ = theta;
    head_dim_ = head_dim;
    seq_ = seq;
  }

  float* cos_ = nullptr;
  float theta_ = 0.0f;
  std::int64_t head_dim_ = 0;
  std::int64_t seq_ = 0;
};

__global__ void rope_kernel(RopeShape s, const float* cos_table, const float* sin_table, const bf16_bits* x,
                            float direction, bf16_bits* out) {
  const std::int64_t half = s.head_dim / 2;
  const std::int64_t pairs = s.batch * s.seq * s.heads * half;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pairs; p += stride) {
    const std::int64_t i = p % half, vector = p / half;  // vector = (b * seq + t) * heads + h
    const std::int64_t t = (vector / s.heads) % s.seq;
    const float c = cos_table[t * half + i], sn = direction * sin_table[t * half + i];
    const std::int64_t base = vector * s.head_dim;
    const float x1 = load_bf16(x + base + i), x2 = load_bf16(x + base + half + i);
    store_bf16(out + base + i, x1 * c - x2 * sn);
    store_bf16(out + base + half + i, x2 * c + x1 * sn);
  }
}

}  // namespace

void rope_rotate(const RopeShape& s, const bf16_bits* x, float theta, float direction, bf16_bits* out) {
  const std::int64_t pairs = s.batch * s.seq * s.heads * (s.head_dim / 2);
  if (pairs == 0) return;
  static RopeTables tables;
  const float* cos_table = tables.get(theta, s.head_dim, s.seq);
  const float* sin_table = cos_table + tables.seq() * (s.head_dim / 2);
  DIVERGE_LAUNCH(rope_kernel, grid_stride_blocks(pairs, kThreads), dim3(kThreads), 0, s, cos_table,
                 sin_table, x, direction, out);
}

}  // namespace diverge::cuda
