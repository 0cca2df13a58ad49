// Tests for causal grouped-query attention: forward against explicit softmax(QK^T)V loops, backward against finite
// differences, head-grouping errors.
#include <doctest/doctest.h>

#include <omp.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/attention.h"
#include "kernels/ops.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

std::size_t q_size(const AttentionShape& s) {
  return static_cast<std::size_t>(s.batch * s.seq * s.heads * s.head_dim);
}
std::size_t kv_size(const AttentionShape& s) {
  return static_cast<std::size_t>(s.batch * s.seq * s.kv_heads * s.head_dim);
}

// Builds the (T, T) score matrix with -inf above the diagonal, softmaxes each row and multiplies by V.
std::vector<double> explicit_attention(const AttentionShape& s, const std::vector<double>& q,
                                       const std::vector<double>& k, const std::vector<double>& v) {
  const auto T = static_cast<std::size_t>(s.seq), D = static_cast<std::size_t>(s.head_dim);
  const auto H = static_cast<std::size_t>(s.heads), G = static_cast<std::size_t>(s.kv_heads);
  std::vector<double> out(q_size(s), 0.0);
  for (std::size_t b = 0; b < static_cast<std::size_t>(s.batch); ++b)
    for (std::size_t h = 0; h < H; ++h) {
      const std::size_t g = h / (H / G);
      std::vector<double> p(T * T, 0.0);
      for (std::size_t i = 0; i < T; ++i) {
        double total = 0.0;
        for (std::size_t j = 0; j < T; ++j) {
          double score = -std::numeric_limits<double>::infinity();
          if (j <= i) {
            score = 0.0;
            for (std::size_t d = 0; d < D; ++d)
              score += q[((b * T + i) * H + h) * D + d] * k[((b * T + j) * G + g) * D + d];
            score /= std::sqrt(static_cast<double>(D));
          }
          p[i * T + j] = std::exp(score);
          total += p[i * T + j];
        }
        for (std::size_t j = 0; j < T; ++j) p[i * T + j] /= total;
      }
      for (std::size_t i = 0; i < T; ++i)
        for (std::size_t j = 0; j < T; ++j)
          for (std::size_t d = 0; d < D; ++d)
            out[((b * T + i) * H + h) * D + d] += p[i * T + j] * v[((b * T + j) * G + g) * D + d];
    }
  return out;
}

}  // namespace

TEST_CASE("attention forward matches explicit softmax(QK^T / sqrt(D)) V for MHA, GQA and MQA") {
  // 6 positions fit one query tile; 150 span three tiles of 64, the last one partial.
  for (std::int64_t seq : {6, 150}) {
    for (std::int64_t kv_heads : {4, 2, 1}) {
      CAPTURE(seq);
      CAPTURE(kv_heads);
      const AttentionShape s{2, seq, 4, kv_heads, 5};
      const auto q = random_values(q_size(s), 1, -2.0, 2.0);
      const auto k = random_values(kv_size(s), 2, -2.0, 2.0);
      const auto v = random_values(kv_size(s), 3);
      std::vector<double> out(q_size(s)), lse(static_cast<std::size_t>(s.batch * s.heads * s.seq));
      cpu::attention_forward(s, q.data(), k.data(), v.data(), out.data(), lse.data());
      CHECK(max_rel_error(out, explicit_attention(s, q, k, v)) < 1e-12);
    }
  }
}

TEST_CASE("attention backward matches finite differences for q, k and v with grouped KV heads") {
  // 5 positions: one query tile; 70: a full tile of 64 and a partial one, so key gradients sum over tiles.
  for (std::int64_t seq : {5, 70}) {
    CAPTURE(seq);
    const AttentionShape s{2, seq, 4, 2, 3};
    auto q = random_values(q_size(s), 4, -2.0, 2.0);
    auto k = random_values(kv_size(s), 5, -2.0, 2.0);
    auto v = random_values(kv_size(s), 6);
    const auto weights = random_values(q_size(s), 7);
    auto loss = [&] { return dot(explicit_attention(s, q, k, v), weights); };
    std::vector<double> out(q_size(s)), lse(static_cast<std::size_t>(s.batch * s.heads * s.seq));
    std::vector<double> dq(q.size(), 9.0), dk(k.size(), 9.0), dv(v.size(), 9.0);
    cpu::attention_forward(s, q.data(), k.data(), v.data(), out.data(), lse.data());
    cpu::attention_backward(s, q.data(), k.data(), v.data(), out.data(), lse.data(), weights.data(), dq.data(),
                            dk.data(), dv.data());
    CHECK(max_rel_error(dq, numeric_gradient(q, loss)) < 1e-6);
    CHECK(max_rel_error(dk, numeric_gradient(k, loss)) < 1e-6);
    CHECK(max_rel_error(dv, numeric_gradient(v, loss)) < 1e-6);
  }
}

TEST_CASE("attention forward and backward are bitwise the same for any thread count") {
  const AttentionShape s{3, 130, 4, 2, 8};
  auto to_float = [](const std::vector<double>& x) { return std::vector<float>(x.begin(), x.end()); };
  const auto q = to_float(random_values(q_size(s), 11, -2.0, 2.0));
  const auto k = to_float(random_values(kv_size(s), 12, -2.0, 2.0));
  const auto v = to_float(random_values(kv_size(s), 13));
  const auto dout = to_float(random_values(q_size(s), 14));
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    std::vector<float> out(q_size(s)), lse(static_cast<std::size_t>(s.batch * s.heads * s.seq));
    std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
    cpu::attention_forward(s, q.data(), k.data(), v.data(), out.data(), lse.data());
    cpu::attention_backward(s, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(), dq.data(), dk.data(),
                            dv.data());
    return std::vector<std::vector<float>>{out, lse, dq, dk, dv};
  };
  const int threads = omp_get_max_threads();
  const auto one = run(1);
  const auto three = run(3);
  omp_set_num_threads(threads);
  CHECK(one == three);
}

TEST_CASE("attention op checks head grouping and layouts") {
  std::vector<float> q(1 * 4 * 6 * 8, 0.1f), kv(1 * 4 * 4 * 8, 0.1f), out(q.size()), lse(6 * 4);
  Tensor tq = make_view(q.data(), DType::f32, Device::cpu, {1, 4, 6, 8});
  Tensor tk = make_view(kv.data(), DType::f32, Device::cpu, {1, 4, 4, 8});
  Tensor tout = make_view(out.data(), DType::f32, Device::cpu, {1, 4, 6, 8});
  Tensor tlse = make_view(lse.data(), DType::f32, Device::cpu, {1, 6, 4});
  CHECK(contains(error_message([&] { ops::attention(tq, tk, tk, tout, tlse); }),
                 "q has 6 heads, not a multiple of the 4 KV heads of k"));
  Tensor tk3 = make_view(kv.data(), DType::f32, Device::cpu, {1, 4, 3, 8});
  Tensor wrong_lse = make_view(lse.data(), DType::f32, Device::cpu, {1, 4, 6});
  CHECK(contains(error_message([&] { ops::attention(tq, tk3, tk3, tout, wrong_lse); }), "attention: lse: dim 1 is 4"));
  ops::attention(tq, tk3, tk3, tout, tlse);
  CHECK(out[0] == doctest::Approx(0.1f));
}
