// Tests of CUDA causal grouped-query attention against the CPU reference on the same bf16 inputs: forward and
// backward within bounds derived from the two computations' rounding, the same bits on every run, refused head dims.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "kernels/cuda/attention_flash.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

namespace {

constexpr double kEps = 0x1p-23;  // twice fp32's unit roundoff: a rounding on each of the two sides compared

struct Shape {
  std::int64_t batch;
  std::int64_t seq;
  std::int64_t heads;
  std::int64_t kv_heads;
  std::int64_t head_dim;
};

// Both sides get the same values: bf16 inputs, and for the backward the CPU forward's out rounded to bf16 (what a
// CUDA forward would have stored) and its fp32 lse, so that the backward's comparison sees the backward's rounding
// alone.
struct Inputs {
  std::vector<float> q, k, v, dout, out, lse;
};

struct Results {
  std::vector<float> out, lse, dq, dk, dv;
};

std::string describe(const Shape& s) {
  return "B " + std::to_string(s.batch) + ", T " + std::to_string(s.seq) + ", H " + std::to_string(s.heads) +
         ", Hkv " + std::to_string(s.kv_heads) + ", D " + std::to_string(s.head_dim);
}

std::size_t q_size(const Shape& s) { return static_cast<std::size_t>(s.batch * s.seq * s.heads * s.head_dim); }
std::size_t kv_size(const Shape& s) { return static_cast<std::size_t>(s.batch * s.seq * s.kv_heads * s.head_dim); }
std::size_t lse_size(const Shape& s) { return static_cast<std::size_t>(s.batch * s.heads * s.seq); }

Inputs make_inputs(const Shape& s, std::uint32_t seed) {
  return {test::rounded_to_bf16(test::normal_values(q_size(s), seed, 1.0f)),
          test::rounded_to_bf16(test::normal_values(kv_size(s), seed + 1, 1.0f)),
          test::rounded_to_bf16(test::normal_values(kv_size(s), seed + 2, 1.0f)),
          test::rounded_to_bf16(test::normal_values(q_size(s), seed + 3, 1.0f)),
          {},
          {}};
}

// The CPU reference; fills x.out and x.lse with the backward's inputs.
Results run_on_cpu(const Shape& s, Inputs& x) {
  const auto [B, T, H, G, D] = s;
  Results r{std::vector<float>(q_size(s)), std::vector<float>(lse_size(s)), std::vector<float>(q_size(s)),
            std::vector<float>(kv_size(s)), std::vector<float>(kv_size(s))};
  ops::attention(test::host_tensor(x.q, {B, T, H, D}), test::host_tensor(x.k, {B, T, G, D}),
                 test::host_tensor(x.v, {B, T, G, D}), test::host_tensor(r.out, {B, T, H, D}),
                 test::host_tensor(r.lse, {B, H, T}));
  x.out = test::rounded_to_bf16(r.out);
  x.lse = r.lse;
  ops::attention_backward(test::host_tensor(x.q, {B, T, H, D}), test::host_tensor(x.k, {B, T, G, D}),
                          test::host_tensor(x.v, {B, T, G, D}), test::host_tensor(x.out, {B, T, H, D}),
                          test::host_tensor(x.lse, {B, H, T}), test::host_tensor(x.dout, {B, T, H, D}),
                          test::host_tensor(r.dq, {B, T, H, D}), test::host_tensor(r.dk, {B, T, G, D}),
                          test::host_tensor(r.dv, {B, T, G, D}));
  return r;
}

struct Forward {
  std::vector<float> out, lse;
};

Forward forward_on_device(const Shape& s, const Inputs& x) {
  const auto [B, T, H, G, D] = s;
  Arena arena = test::device_arena((2 * q_size(s) + 2 * kv_size(s)) * sizeof(std::uint16_t) +
                                   lse_size(s) * sizeof(float) + 8 * Arena::kAlignment);
  const Tensor out = arena.alloc(DType::bf16, {B, T, H, D}), lse = arena.alloc(DType::f32, {B, H, T});
  ops::attention(test::to_device_bf16(arena, x.q, {B, T, H, D}), test::to_device_bf16(arena, x.k, {B, T, G, D}),
                 test::to_device_bf16(arena, x.v, {B, T, G, D}), out, lse);
  return {test::bf16_to_host(out), test::to_host(lse)};
}

Results run_on_device(const Shape& s, const Inputs& x) {
  const auto [B, T, H, G, D] = s;
  Forward forward = forward_on_device(s, x);
  Arena arena = test::device_arena((4 * q_size(s) + 4 * kv_size(s)) * sizeof(std::uint16_t) +
                                   lse_size(s) * sizeof(float) + 16 * Arena::kAlignment);
  const Tensor q = test::to_device_bf16(arena, x.q, {B, T, H, D}), k = test::to_device_bf16(arena, x.k, {B, T, G, D}),
               v = test::to_device_bf16(arena, x.v, {B, T, G, D}),
               dout = test::to_device_bf16(arena, x.dout, {B, T, H, D}),
               saved_out = test::to_device_bf16(arena, x.out, {B, T, H, D}),
               saved_lse = test::to_device(arena, x.lse, {B, H, T}), dq = arena.alloc(DType::bf16, {B, T, H, D}),
               dk = arena.alloc(DType::bf16, {B, T, G, D}), dv = arena.alloc(DType::bf16, {B, T, G, D});
  ops::attention_backward(q, k, v, saved_out, saved_lse, dout, dq, dk, dv);
  return {std::move(forward.out), std::move(forward.lse), test::bf16_to_host(dq), test::bf16_to_host(dk),
          test::bf16_to_host(dv)};
}

// How far the two fp32 computations of each output may drift apart, from the magnitudes of the terms they sum (in
// double, from the inputs). Per side, with u = 2^-24 (kEps covers both sides):
// - a score q.k * scale sums D products: off by D u of scale * sum |q_d k_d| (A, the row's largest such magnitude),
//   the scaling, the subtraction of the max or lse (u of their magnitudes) and the exponential (2 ulp) add a few u;
//   so a probability is off by (D + 4) u A relative and a few u more. The forward's normalising sum adds T u, and
//   the online softmax's rescaling per key tile (fewer than T) another exponential each, hence 2T + 16.
// - out, dq, dk and dv each sum their row's terms (T for out and dq, group * T for dk and dv) in another order:
//   n u of the sum of the terms' magnitudes, on top of each term's own drift.
// - a score gradient ds = p (dout.v - delta) scale: p's drift relative to |ds|, and D u of the magnitudes of the two
//   D-term dot products, times p scale.
// - the tensor-core kernels (head dims 64 and 128) round each mma operand they compute to bf16, which the CPU's fp32
//   never does: the forward each probability before it weights v (the sum that divides out is of the unrounded
//   ones, so lse keeps its bound), the backward each probability before it weights dout and each score gradient
//   (p (dout.v - delta), the scale applied to the sum) before it weights q or k. So kBf16Rounding of each term
//   p |v| of out, p |dout| of dv, |ds| |k| of dq and |ds| |q| of dk on top.
struct Drift {
  std::vector<double> out, lse, dq, dk, dv;
};

Drift drift_bounds(const Shape& s, const Inputs& x) {
  const std::int64_t B = s.batch, T = s.seq, H = s.heads, G = s.kv_heads, D = s.head_dim, group = H / G;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const double terms = static_cast<double>(T), key_terms = static_cast<double>(group * T);
  const double operand_rounding = cuda::flash_attention_supports_head_dim(D) ? test::kBf16Rounding : 0.0;
  Drift e{std::vector<double>(q_size(s)), std::vector<double>(lse_size(s)), std::vector<double>(q_size(s)),
          std::vector<double>(kv_size(s)), std::vector<double>(kv_size(s))};
  auto row_at = [&](std::int64_t b, std::int64_t t, std::int64_t heads, std::int64_t h) {
    return static_cast<std::size_t>(((b * T + t) * heads + h) * D);
  };
  // sum_d a[i + d] c[j + d], or the sum of the products' magnitudes
  auto dot = [&](const std::vector<float>& a, std::size_t i, const std::vector<float>& c, std::size_t j,
                 bool absolute) {
    double sum = 0.0;
    for (std::size_t d = 0; d < static_cast<std::size_t>(D); ++d) {
      const double product = static_cast<double>(a[i + d]) * c[j + d];
      sum += absolute ? std::fabs(product) : product;
    }
    return sum;
  };
  for (std::int64_t b = 0; b < B; ++b) {
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t g = h / group;
      for (std::int64_t i = 0; i < T; ++i) {
        const std::size_t qi = row_at(b, i, H, h), row = static_cast<std::size_t>((b * H + h) * T + i);
        double largest = 0.0;
        for (std::int64_t j = 0; j <= i; ++j)
          largest = std::max(largest, scale * dot(x.q, qi, x.k, row_at(b, j, G, g), true));
        const double lse = x.lse[row];
        const double score_drift = static_cast<double>(D + 4) * kEps * largest;
        const double forward_p = score_drift + (2 * terms + 16) * kEps;
        const double backward_p = score_drift + kEps * std::fabs(lse) + 4 * kEps;
        e.lse[row] = forward_p + kEps * std::fabs(lse);  // the drift of the probabilities' normaliser
        const double delta = dot(x.dout, qi, x.out, qi, false), delta_magnitude = dot(x.dout, qi, x.out, qi, true);
        for (std::int64_t j = 0; j <= i; ++j) {
          const std::size_t kj = row_at(b, j, G, g);
          const double p = std::exp(scale * dot(x.q, qi, x.k, kj, false) - lse);
          const double ds = p * (dot(x.dout, qi, x.v, kj, false) - delta) * scale;
          const double ds_drift = std::fabs(ds) * (backward_p + 4 * kEps) +
                                  p * scale * static_cast<double>(D + 1) * kEps *
                                      (dot(x.dout, qi, x.v, kj, true) + delta_magnitude);
          for (std::size_t d = 0; d < static_cast<std::size_t>(D); ++d) {
            e.out[qi + d] += p * std::fabs(x.v[kj + d]) * (forward_p + terms * kEps + operand_rounding);
            e.dq[qi + d] += std::fabs(x.k[kj + d]) * (ds_drift + (terms * kEps + operand_rounding) * std::fabs(ds));
            e.dk[kj + d] +=
                std::fabs(x.q[qi + d]) * (ds_drift + (key_terms * kEps + operand_rounding) * std::fabs(ds));
            e.dv[kj + d] += p * std::fabs(x.dout[qi + d]) * (backward_p + key_terms * kEps + operand_rounding);
          }
        }
      }
    }
  }
  return e;
}

// Elements outside the bound: the drift, plus for a bf16 output one rounding of the device's fp32 value (2^-8 of a
// magnitude within the drift of the reference's).
int outside(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& drift,
            bool rounded_to_bf16) {
  int count = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double rounding = rounded_to_bf16 ? test::kBf16Rounding * (std::fabs(want[i]) + drift[i]) : 0.0;
    count += std::fabs(static_cast<double>(got[i]) - want[i]) <= drift[i] + rounding ? 0 : 1;
  }
  return count;
}

// The inputs both sides share, the CPU's results on them and the bounds of the device's distance from those.
struct Reference {
  Inputs x;
  Results want;
  Drift drift;
};

Reference reference(const Shape& s, std::uint32_t seed) {
  Reference r{make_inputs(s, seed), {}, {}};
  r.want = run_on_cpu(s, r.x);
  r.drift = drift_bounds(s, r.x);
  return r;
}

void check_forward_and_backward(const Reference& r, const Results& got) {
  CHECK(outside(got.out, r.want.out, r.drift.out, true) == 0);
  CHECK(outside(got.lse, r.want.lse, r.drift.lse, false) == 0);
  CHECK(outside(got.dq, r.want.dq, r.drift.dq, true) == 0);
  CHECK(outside(got.dk, r.want.dk, r.drift.dk, true) == 0);
  CHECK(outside(got.dv, r.want.dv, r.drift.dv, true) == 0);
}

void check_same_bits(const Results& first, const Results& second) {
  CHECK(first.out == second.out);
  CHECK(first.lse == second.lse);
  CHECK(first.dq == second.dq);
  CHECK(first.dk == second.dk);
  CHECK(first.dv == second.dv);
}

}  // namespace

TEST_CASE("cuda attention: forward and backward match the CPU on the same bf16 inputs" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // Tiles are 32 positions. T = 1; T = 45 over two tiles, the last partial; 100 over four; 64 exactly two. MHA
  // (H = Hkv), MQA (Hkv = 1), groups of 2 and 4, B > 1, and every supported head dim.
  const Shape shapes[] = {{1, 1, 2, 1, 32},  {2, 45, 2, 2, 32}, {1, 100, 4, 1, 16}, {1, 70, 8, 2, 64},
                          {1, 40, 2, 2, 128}, {2, 33, 4, 2, 32}, {1, 64, 2, 1, 16}};
  std::uint32_t seed = 1;
  for (const Shape& s : shapes) {
    INFO(describe(s));
    const Reference r = reference(s, seed += 4);
    check_forward_and_backward(r, run_on_device(s, r.x));
  }
}

TEST_CASE("cuda attention: the tensor-core forward and backward match the CPU for head dims 64 and 128" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // Query and key tiles are 64 positions: T = 1 and 17 end inside the first tile, 64 fills it, 100 ends in a
  // partial second tile, 130 in a third of two rows. Groups of 1 to 8 query heads per KV head (the dk and dv blocks
  // sum over the group); B = 1 or 2 in turn, so that each head dim, sequence length and group meets both (the
  // emulator's time, not the kernels', sets this).
  std::uint32_t seed = 100;
  for (const std::int64_t head_dim : {64, 128}) {
    for (const std::int64_t seq : {1, 17, 64, 100, 130}) {
      for (const std::int64_t group : {1, 2, 4, 8}) {
        const std::int64_t kv_heads = group == 8 ? 1 : 2;
        const Shape s{1 + (seq + group) % 2, seq, group * kv_heads, kv_heads, head_dim};
        INFO(describe(s));
        const Reference r = reference(s, seed += 4);
        check_forward_and_backward(r, run_on_device(s, r.x));
      }
    }
  }
}

TEST_CASE("cuda attention: the same bits on every run" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const Shape s{2, 70, 4, 1, 32};
  Inputs x = make_inputs(s, 40);
  run_on_cpu(s, x);
  check_same_bits(run_on_device(s, x), run_on_device(s, x));
  const Shape tensor_core{2, 130, 4, 2, 128};
  Inputs y = make_inputs(tensor_core, 50);
  run_on_cpu(tensor_core, y);
  check_same_bits(run_on_device(tensor_core, y), run_on_device(tensor_core, y));
}

TEST_CASE("cuda attention: a head dim without a kernel is refused, naming the op and D" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  Arena arena = test::device_arena(4096 + 8 * Arena::kAlignment);
  const Tensor q = arena.alloc(DType::bf16, {1, 2, 2, 48}), k = arena.alloc(DType::bf16, {1, 2, 1, 48}),
               out = arena.alloc(DType::bf16, {1, 2, 2, 48}), lse = arena.alloc(DType::f32, {1, 2, 2});
  std::string message;
  try {
    ops::attention(q, k, k, out, lse);
  } catch (const Error& error) {
    message = error.what();
  }
  CHECK(message == "attention: head dim D = 48 has no CUDA kernel (supported: 16, 32, 64, 128)");
}
