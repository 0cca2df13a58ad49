// Tests of the CUDA router, the sums it takes for the auxiliary losses, and those losses (fp32 on every device)
// against the CPU reference on the same logits: the expert choice to the bit, exact and near ties included; values
// within bounds derived from fp32.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>

#include "kernels/ops.h"
#include "tests/cuda_support.h"

using namespace diverge;

namespace {

constexpr double kEps = 0x1p-23;            // float's epsilon: one ulp of x is at most kEps * |x|
constexpr double kUnderflow = 0x1p-126;     // exps under float's normal range: 0 on the CPU, subnormal on CUDA
constexpr ops::Write kWrites[] = {ops::Write::overwrite, ops::Write::accumulate};

struct Shape {
  std::int64_t tokens;
  std::int64_t experts;
  std::int64_t top_k;
};

// One token; E not a multiple of the 32 lanes striding a row; k = 1 and k = E, up to E = 256 (eight experts a lane);
// more tokens than the 128 rows of a load-balance chunk; E above k * N, so that some experts get no tokens.
constexpr Shape kShapes[] = {{1, 256, 256}, {1, 7, 1}, {37, 100, 7}, {300, 33, 33}, {523, 256, 8}, {5, 200, 2}};

// Rows of four kinds: random; values from a set of five (exact ties, -0 beside +0); consecutive floats around 0.3,
// whose exps round to the same float (near ties the probabilities cannot order); all equal.
std::vector<float> router_logits(const Shape& s, std::uint32_t seed) {
  std::vector<float> logits = test::normal_values(static_cast<std::size_t>(s.tokens * s.experts), seed, 2.0f);
  std::mt19937 rng(seed);
  constexpr float kTieValues[] = {-1.0f, -0.0f, 0.0f, 0.5f, 1.0f};
  for (std::int64_t t = 0; t < s.tokens; ++t) {
    float* row = logits.data() + t * s.experts;
    for (std::int64_t e = 0; e < s.experts; ++e) {
      switch (t % 4) {
        case 1: row[e] = kTieValues[rng() % 5]; break;
        case 2: {
          float value = 0.3f;
          for (auto steps = rng() % 4; steps > 0; --steps) value = std::nextafter(value, 1.0f);
          row[e] = value;
          break;
        }
        case 3: row[e] = 0.25f; break;
        default: break;
      }
    }
  }
  return logits;
}

Tensor int_view(std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape) {
  return make_view(values.data(), DType::i32, Device::cpu, shape);
}

Arena arena_for(const Shape& s) {
  const auto dense = static_cast<std::size_t>(s.tokens * s.experts);
  const auto sparse = static_cast<std::size_t>(s.tokens * s.top_k);
  const auto floats = 8 * dense + 8 * sparse + static_cast<std::size_t>(s.experts);
  return test::device_arena(floats * sizeof(float) + 32 * Arena::kAlignment);
}

// The CPU's router outputs for logits, its sums included: what both backward passes and both losses are fed, so
// that they compare on the same values.
struct Routed {
  std::vector<float> probs;
  std::vector<std::int32_t> topk;
  std::vector<float> gates;
  std::vector<float> prob_sums, lse;
};

Routed route_on_cpu(const Shape& s, std::vector<float>& logits, bool renormalize) {
  const auto sparse = static_cast<std::size_t>(s.tokens * s.top_k);
  Routed r{std::vector<float>(logits.size()), std::vector<std::int32_t>(sparse), std::vector<float>(sparse),
           std::vector<float>(static_cast<std::size_t>(router_sum_chunks(s.tokens) * s.experts)),
           std::vector<float>(static_cast<std::size_t>(s.tokens))};
  ops::router(test::host_tensor(logits, {s.tokens, s.experts}), test::host_tensor(r.probs, {s.tokens, s.experts}),
              int_view(r.topk, {s.tokens, s.top_k}), test::host_tensor(r.gates, {s.tokens, s.top_k}), renormalize,
              {test::host_tensor(r.prob_sums, {router_sum_chunks(s.tokens), s.experts}),
               test::host_tensor(r.lse, {s.tokens})});
  return r;
}

// A softmax backward dlogits = old + p (dp - <dp, p>) where each dp_c and the projection are sums of at most `terms`
// fp32 operations on values bounded by dp_bound[c] (per element) and projection_bound = sum_c p_c dp_bound[c]: both
// sides round each within `terms` eps of those magnitudes (n eps for n terms in another order), the product and
// difference twice more, and the add to the old value once each.
int count_outside_softmax_backward(const std::vector<float>& got, const std::vector<float>& want,
                                   const std::vector<float>& old, const std::vector<float>& probs,
                                   const std::vector<double>& dp_bound, std::int64_t rows, std::int64_t cols,
                                   double terms) {
  int outside = 0;
  for (std::int64_t t = 0; t < rows; ++t) {
    double projection_bound = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) projection_bound += probs[t * cols + c] * dp_bound[t * cols + c];
    for (std::int64_t c = 0; c < cols; ++c) {
      const auto i = static_cast<std::size_t>(t * cols + c);
      const double tolerance =
          (terms + 4) * kEps * probs[i] * (dp_bound[i] + projection_bound) + 2 * kEps * std::fabs(old[i]);
      outside += std::fabs(static_cast<double>(got[i]) - want[i]) <= tolerance ? 0 : 1;
    }
  }
  return outside;
}

// Expert counts as a dispatch plan counts them from topk (experts no token chose count 0).
std::vector<std::int32_t> counts_of(const std::vector<std::int32_t>& topk, std::int64_t experts) {
  std::vector<std::int32_t> counts(static_cast<std::size_t>(experts), 0);
  for (const std::int32_t e : topk) ++counts[static_cast<std::size_t>(e)];
  return counts;
}

// logsumexp of each row (rows, cols), in double.
std::vector<double> logsumexps(const std::vector<float>& logits, std::int64_t rows, std::int64_t cols) {
  std::vector<double> lse(static_cast<std::size_t>(rows));
  for (std::int64_t t = 0; t < rows; ++t) {
    const float* row = logits.data() + t * cols;
    const double max_value = *std::max_element(row, row + cols);
    double sum = 0.0;
    for (std::int64_t c = 0; c < cols; ++c) sum += std::exp(row[c] - max_value);
    lse[static_cast<std::size_t>(t)] = max_value + std::log(sum);
  }
  return lse;
}

// How far the two devices' logsumexp of a row may be apart: the max is exact; each exp is within 2 ulp on either
// side (the CPU's polynomial, CUDA's expf) and the E positive terms sum in another order, so the sums differ by
// (E + 4) eps relative, their logs by that much absolutely plus a ulp of log(sum) <= log(E) each; adding the max
// rounds once on each side.
double logsumexp_gap(double lse, std::int64_t experts) {
  const auto e = static_cast<double>(experts);
  return (e + 4 + 2 * std::log(e)) * kEps + 2 * kEps * std::fabs(lse);
}

ops::RouterSums device_sums(Arena& arena, const Shape& s) {
  return {arena.alloc(DType::f32, {router_sum_chunks(s.tokens), s.experts}), arena.alloc(DType::f32, {s.tokens})};
}

// The router's sums against what they sum: each chunk's column sum of the device's own probabilities (at most
// kRouterSumRows positive terms in fp32, rows in order: that many eps of the sum), and each row's logsumexp of the
// logits within logsumexp_gap of the double one.
int count_outside_sums(const Shape& s, const std::vector<float>& logits, const std::vector<float>& probs,
                       const ops::RouterSums& sums) {
  const auto prob_sums = test::to_host(sums.prob_sums), lse = test::to_host(sums.lse);
  const auto want_lse = logsumexps(logits, s.tokens, s.experts);
  int outside = 0;
  for (std::int64_t c = 0; c < router_sum_chunks(s.tokens); ++c)
    for (std::int64_t e = 0; e < s.experts; ++e) {
      double want = 0.0;
      for (std::int64_t t = c * kRouterSumRows; t < std::min(s.tokens, (c + 1) * kRouterSumRows); ++t)
        want += probs[static_cast<std::size_t>(t * s.experts + e)];
      const float got = prob_sums[static_cast<std::size_t>(c * s.experts + e)];
      outside += std::fabs(got - want) <= static_cast<double>(kRouterSumRows) * kEps * want ? 0 : 1;
    }
  for (std::size_t t = 0; t < lse.size(); ++t)
    outside += std::fabs(lse[t] - want_lse[t]) <= logsumexp_gap(want_lse[t], s.experts) ? 0 : 1;
  return outside;
}

// Which of the router backward's terms a case feeds it: the gates' gradient, a dense dprobs, the auxiliary losses'.
struct Terms {
  bool gates, dprobs, aux;
};
constexpr Terms kTerms[] = {{true, false, false}, {true, true, false}, {true, false, true}, {true, true, true},
                            {false, false, true}};

// Per element, a bound on the magnitude of the d probs the backward forms (the dense terms and, for a chosen expert,
// its gate's: dg_i, or (dg_i - <dg, g>) / S, at most (|dg_i| + sum_j |dg_j g_j|) / S; <dg, g> and S are sums of k
// terms), plus the z-loss's shift |(2 dloss / N) lse_t|, which enters the difference beside them.
std::vector<double> dprobs_bound(const Shape& s, const Routed& r, const std::vector<float>& dgates,
                                 const std::vector<float>& dprobs, const std::vector<std::int32_t>& counts,
                                 const Terms& terms, bool renormalize, float balance_weight, float z_weight) {
  std::vector<double> bound(static_cast<std::size_t>(s.tokens * s.experts), 0.0);
  double total = 0.0;
  for (const std::int32_t c : counts) total += c;
  const double balance_scale = balance_weight * static_cast<double>(s.experts) / static_cast<double>(s.tokens);
  const double z_scale = 2.0 * z_weight / static_cast<double>(s.tokens);
  for (std::int64_t t = 0; t < s.tokens; ++t) {
    for (std::int64_t c = 0; c < s.experts; ++c) {
      const auto i = static_cast<std::size_t>(t * s.experts + c);
      if (terms.dprobs) bound[i] += std::fabs(dprobs[i]);
      if (terms.aux) {
        bound[i] += balance_scale * counts[static_cast<std::size_t>(c)] / total;
        bound[i] += z_scale * std::fabs(r.lse[static_cast<std::size_t>(t)]);
      }
    }
    if (!terms.gates) continue;
    double chosen_sum = 0.0, gate_projection = 0.0;
    for (std::int64_t j = 0; j < s.top_k; ++j) {
      const auto i = static_cast<std::size_t>(t * s.top_k + j);
      chosen_sum += r.probs[static_cast<std::size_t>(t * s.experts + r.topk[i])];
      gate_projection += std::fabs(dgates[i] * r.gates[i]);
    }
    for (std::int64_t j = 0; j < s.top_k; ++j) {
      const auto i = static_cast<std::size_t>(t * s.top_k + j);
      bound[static_cast<std::size_t>(t * s.experts + r.topk[i])] +=
          renormalize ? (std::fabs(dgates[i]) + gate_projection) / chosen_sum : std::fabs(dgates[i]);
    }
  }
  return bound;
}

}  // namespace

TEST_CASE("cuda router: the CPU's expert choice to the bit, probabilities, gates and dlogits within fp32 bounds" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const Shape& s : kShapes) {
    for (const bool renormalize : {false, true}) {
      CAPTURE(s.tokens);
      CAPTURE(s.experts);
      CAPTURE(s.top_k);
      CAPTURE(renormalize);
      const auto dense = static_cast<std::size_t>(s.tokens * s.experts);
      const auto sparse = static_cast<std::size_t>(s.tokens * s.top_k);
      auto logits = router_logits(s, static_cast<std::uint32_t>(s.experts + s.top_k));
      Routed want = route_on_cpu(s, logits, renormalize);

      Arena arena = arena_for(s);
      const Tensor d_logits = test::to_device(arena, logits, {s.tokens, s.experts}),
                   d_probs = arena.alloc(DType::f32, {s.tokens, s.experts}),
                   d_topk = arena.alloc(DType::i32, {s.tokens, s.top_k}),
                   d_gates = arena.alloc(DType::f32, {s.tokens, s.top_k});
      const ops::RouterSums d_sums = device_sums(arena, s);
      ops::router(d_logits, d_probs, d_topk, d_gates, renormalize, d_sums);
      CHECK(test::i32_to_host(d_topk) == want.topk);
      const auto probs = test::to_host(d_probs), gates = test::to_host(d_gates);
      CHECK(count_outside_sums(s, logits, probs, d_sums) == 0);

      // Probabilities: each side's exp within 2 ulp of the true value (4 eps apart), the row sum of E positive terms
      // in another order (E eps of the sum), one division on each side: (E + 9) eps relative.
      const double prob_bound = (static_cast<double>(s.experts) + 10) * kEps;
      // Gates: a probability, divided by the sum of k of them (the same order on both sides, each rounding k times).
      const double gate_bound =
          renormalize ? 2 * prob_bound + (2 * static_cast<double>(s.top_k) + 2) * kEps : prob_bound;
      int outside = 0;
      for (std::size_t i = 0; i < dense; ++i)
        outside += std::fabs(probs[i] - want.probs[i]) <= prob_bound * want.probs[i] + kUnderflow ? 0 : 1;
      for (std::size_t i = 0; i < sparse; ++i)
        outside += std::fabs(gates[i] - want.gates[i]) <= gate_bound * want.gates[i] + kUnderflow ? 0 : 1;
      CHECK(outside == 0);

      // The backward on the CPU's forward outputs, with each mix of its terms, overwriting and accumulating.
      auto dgates = test::normal_values(sparse, 11, 1.0f);
      auto dprobs = test::normal_values(dense, 12, 1.0f);
      auto counts = counts_of(want.topk, s.experts);
      const float balance_weight = 0.75f, z_weight = 0.5f;
      const Tensor b_probs = test::to_device(arena, want.probs, {s.tokens, s.experts}),
                   b_topk = test::to_device_i32(arena, want.topk, {s.tokens, s.top_k}),
                   b_gates = test::to_device(arena, want.gates, {s.tokens, s.top_k}),
                   b_dgates = test::to_device(arena, dgates, {s.tokens, s.top_k}),
                   b_dprobs = test::to_device(arena, dprobs, {s.tokens, s.experts}),
                   b_counts = test::to_device_i32(arena, counts, {s.experts}),
                   b_lse = test::to_device(arena, want.lse, {s.tokens}),
                   b_dlogits = arena.alloc(DType::f32, {s.tokens, s.experts});
      for (const Terms& terms : kTerms) {
        for (const ops::Write write : kWrites) {
          CAPTURE(terms.gates);
          CAPTURE(terms.dprobs);
          CAPTURE(terms.aux);
          CAPTURE(write == ops::Write::accumulate);
          const auto old = write == ops::Write::accumulate ? test::normal_values(dense, 13, 1.0f)
                                                           : std::vector<float>(dense, 0.0f);
          auto dlogits = old;
          const auto aux_of = [&](const Tensor& counts_tensor, const Tensor& lse_tensor) {
            return terms.aux ? ops::RouterAuxGrads{counts_tensor, balance_weight, lse_tensor, z_weight}
                             : ops::RouterAuxGrads{};
          };
          ops::router_backward(
              test::host_tensor(want.probs, {s.tokens, s.experts}), int_view(want.topk, {s.tokens, s.top_k}),
              test::host_tensor(want.gates, {s.tokens, s.top_k}),
              terms.gates ? test::host_tensor(dgates, {s.tokens, s.top_k}) : Tensor{},
              terms.dprobs ? test::host_tensor(dprobs, {s.tokens, s.experts}) : Tensor{},
              test::host_tensor(dlogits, {s.tokens, s.experts}), renormalize, write,
              aux_of(int_view(counts, {s.experts}), test::host_tensor(want.lse, {s.tokens})));
          // Overwriting must not read what is there: NaN would show through.
          test::copy_into(b_dlogits, write == ops::Write::accumulate ? old : std::vector<float>(dense, NAN));
          ops::router_backward(b_probs, b_topk, b_gates, terms.gates ? b_dgates : Tensor{},
                               terms.dprobs ? b_dprobs : Tensor{}, b_dlogits, renormalize, write,
                               aux_of(b_counts, b_lse));
          CHECK(count_outside_softmax_backward(
                    test::to_host(b_dlogits), dlogits, old, want.probs,
                    dprobs_bound(s, want, dgates, dprobs, counts, terms, renormalize, balance_weight, z_weight),
                    s.tokens, s.experts, static_cast<double>(s.experts + 2 * s.top_k + 4)) == 0);
          // E + 2k terms for the gates' and dprobs' sums; 4 for the aux terms: the load balance's add to d probs,
          // the shift's (2 dloss / N) lse (three roundings) and its add.
        }
      }
    }
  }
}

TEST_CASE("cuda router: near ties the probabilities round equal still choose the larger logit, as the CPU" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // exp(0.3 - next(0.3)) rounds to 1: equal probabilities, distinct logits; expert 1's is the larger.
  const Shape s{2, 3, 3};
  std::vector<float> logits = {0.3f, std::nextafter(0.3f, 1.0f), 0.3f, 0.0f, -0.0f, 0.0f};
  const Routed want = route_on_cpu(s, logits, false);
  CHECK(want.topk == std::vector<std::int32_t>{1, 0, 2, 0, 1, 2});
  Arena arena = arena_for(s);
  const Tensor d_topk = arena.alloc(DType::i32, {s.tokens, s.top_k});
  ops::router(test::to_device(arena, logits, {s.tokens, s.experts}), arena.alloc(DType::f32, {s.tokens, s.experts}),
              d_topk, arena.alloc(DType::f32, {s.tokens, s.top_k}), false);
  CHECK(test::i32_to_host(d_topk) == want.topk);
}

TEST_CASE("cuda load balance and z-loss: the losses match the CPU within fp32 bounds" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const Shape& s : kShapes) {
    CAPTURE(s.tokens);
    CAPTURE(s.experts);
    const auto n = static_cast<double>(s.tokens), experts = static_cast<double>(s.experts);
    auto logits = router_logits(s, static_cast<std::uint32_t>(s.tokens));
    Routed routed = route_on_cpu(s, logits, true);
    auto counts = counts_of(routed.topk, s.experts);

    const auto chunks = static_cast<double>(router_sum_chunks(s.tokens));
    Arena arena = arena_for(s);
    const Tensor d_counts = test::to_device_i32(arena, counts, {s.experts});
    const ops::RouterSums cpu_sums{test::host_tensor(routed.prob_sums, {router_sum_chunks(s.tokens), s.experts}),
                                   test::host_tensor(routed.lse, {s.tokens})};
    const ops::RouterSums d_sums{test::to_device(arena, routed.prob_sums, {router_sum_chunks(s.tokens), s.experts}),
                                 test::to_device(arena, routed.lse, {s.tokens})};

    // Load balance from the same sums: f is the same bits on both sides; each P_e adds the chunks (chunks eps of
    // the sum), the weighted sum E more, the products and the scaling a few roundings; the CPU sums in double.
    const float lb = test::loss_value(Device::cpu, [&](const Tensor& loss) {
      ops::load_balance_loss(cpu_sums, int_view(counts, {s.experts}), loss);
    });
    const float lb_cuda =
        test::loss_value(Device::cuda, [&](const Tensor& loss) { ops::load_balance_loss(d_sums, d_counts, loss); });
    CHECK(std::fabs(static_cast<double>(lb_cuda) - lb) <= (chunks + experts + 4) * kEps * lb);

    // z-loss from the same logsumexps: each square rounds once on CUDA (the CPU squares in double), the mean sums
    // N positive squares in another order (N eps of the loss) and divides once.
    const float z = test::loss_value(Device::cpu, [&](const Tensor& loss) { ops::router_z_loss(cpu_sums.lse, loss); });
    const float z_cuda =
        test::loss_value(Device::cuda, [&](const Tensor& loss) { ops::router_z_loss(d_sums.lse, loss); });
    CHECK(std::fabs(static_cast<double>(z_cuda) - z) <= (n + 3) * kEps * z);
  }
}

TEST_CASE("cuda router and auxiliary losses: the same bits on every run" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const Shape s{523, 100, 6};
  const auto dense = static_cast<std::size_t>(s.tokens * s.experts);
  const auto sparse = static_cast<std::size_t>(s.tokens * s.top_k);
  Arena arena = arena_for(s);
  const Tensor logits = test::to_device(arena, router_logits(s, 31), {s.tokens, s.experts}),
               probs = arena.alloc(DType::f32, {s.tokens, s.experts}),
               topk = arena.alloc(DType::i32, {s.tokens, s.top_k}),
               gates = arena.alloc(DType::f32, {s.tokens, s.top_k}),
               dgates = test::to_device(arena, test::normal_values(sparse, 32, 1.0f), {s.tokens, s.top_k}),
               dprobs = test::to_device(arena, test::normal_values(dense, 33, 1.0f), {s.tokens, s.experts}),
               dlogits = arena.alloc(DType::f32, {s.tokens, s.experts});
  const ops::RouterSums sums = device_sums(arena, s);
  struct Run {
    std::vector<float> probs, gates, dlogits, prob_sums, lse;
    std::vector<std::int32_t> topk;
    float load_balance, z;
  };
  std::vector<Run> runs;
  for (int run = 0; run < 2; ++run) {
    ops::router(logits, probs, topk, gates, true, sums);
    const Tensor counts = test::to_device_i32(arena, counts_of(test::i32_to_host(topk), s.experts), {s.experts});
    ops::router_backward(probs, topk, gates, dgates, dprobs, dlogits, true, ops::Write::overwrite,
                         {counts, 0.5f, sums.lse, 0.25f});
    runs.push_back({test::to_host(probs), test::to_host(gates), test::to_host(dlogits), test::to_host(sums.prob_sums),
                    test::to_host(sums.lse), test::i32_to_host(topk),
                    test::loss_value(Device::cuda, [&](const Tensor& l) { ops::load_balance_loss(sums, counts, l); }),
                    test::loss_value(Device::cuda, [&](const Tensor& l) { ops::router_z_loss(sums.lse, l); })});
  }
  CHECK(runs[0].prob_sums == runs[1].prob_sums);
  CHECK(runs[0].lse == runs[1].lse);
  CHECK(runs[0].probs == runs[1].probs);
  CHECK(runs[0].gates == runs[1].gates);
  CHECK(runs[0].topk == runs[1].topk);
  CHECK(runs[0].dlogits == runs[1].dlogits);
  CHECK(std::bit_cast<std::uint32_t>(runs[0].load_balance) == std::bit_cast<std::uint32_t>(runs[1].load_balance));
  CHECK(std::bit_cast<std::uint32_t>(runs[0].z) == std::bit_cast<std::uint32_t>(runs[1].z));
}

TEST_CASE("cuda balanced routing: the CPU's forced-balance assignment and gates, to the bit" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // More copies than one block's threads; k = E; k = 1 with E not dividing N.
  for (const Shape& s : {Shape{523, 64, 8}, Shape{5, 7, 7}, Shape{37, 10, 1}}) {
    CAPTURE(s.tokens);
    std::vector<std::int32_t> want_topk(static_cast<std::size_t>(s.tokens * s.top_k));
    std::vector<float> want_gates(want_topk.size());
    ops::balanced_routing(s.experts, make_view(want_topk.data(), DType::i32, Device::cpu, {s.tokens, s.top_k}),
                          test::host_tensor(want_gates, {s.tokens, s.top_k}));
    Arena arena = arena_for(s);
    const Tensor topk = arena.alloc(DType::i32, {s.tokens, s.top_k});
    const Tensor gates = arena.alloc(DType::f32, {s.tokens, s.top_k});
    ops::balanced_routing(s.experts, topk, gates);
    CHECK(test::i32_to_host(topk) == want_topk);
    CHECK(test::to_host(gates) == want_gates);
  }
}
