// Tests of the CUDA Expert Divergence Loss and routing-metric sums against the CPU reference fed the same fp32
// values: each EDL step on identical inputs, the fused op, invalid batches, and the same bits on every run.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "kernels/cpu/divergence.h"
#include "kernels/cpu/sequence_means.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"
#include "tests/gradcheck.h"

using namespace diverge;

namespace {

constexpr float kEps = 1e-6f;
constexpr float kCoef = 0.37f;
// Machine epsilons: a sum of n terms in another order moves by at most n of them times the terms' magnitudes.
constexpr double kDoubleEps = 0x1p-52;
constexpr double kFloatEps = 0x1p-23;

struct Case {
  const char* name;
  std::int64_t tokens;
  std::int64_t experts;
  std::int64_t labels;
  std::vector<std::int32_t> domains;
  bool masked;
  float logit_scale;  // small: domains route almost alike and their JSDs sit near eps
};

// Tokens over the 64 of one partial sum, experts below, between and above multiples of 32, up to 16 labels.
std::vector<Case> edl_cases() {
  std::vector<std::int32_t> sixteen(20);
  for (std::size_t s = 0; s < sixteen.size(); ++s) sixteen[s] = static_cast<std::int32_t>((s * 7) % 16);
  return {
      {"several domains, masked", 37, 13, 4, {0, 1, 2, 3, 1, 0, 2, 3}, true, 2.0f},
      {"one domain", 20, 8, 3, {1, 1, 1, 1}, false, 2.0f},
      {"a domain with one sequence", 130, 40, 3, {0, 0, 1, 2, 2}, true, 1.5f},
      {"absent domains", 9, 33, 6, {5, 1, 5, 3}, false, 2.0f},
      {"16 domains", 70, 64, 16, sixteen, true, 1.0f},
      {"wide rows, one token", 1, 100, 2, {0, 1, 1}, false, 3.0f},
      {"near-identical routing", 50, 16, 3, {0, 1, 2, 0, 1, 2}, false, 0.01f},
  };
}

struct Batch {
  cpu::SequenceShape shape;
  std::vector<float> probs;           // (S * T, E): softmax rows of normal logits
  std::vector<std::int32_t> mask;     // (S, T) or empty
  std::vector<std::int32_t> domains;  // (S)
};

Batch make_batch(const Case& c, std::uint32_t seed) {
  const auto sequences = static_cast<std::int64_t>(c.domains.size());
  const auto rows = static_cast<std::size_t>(sequences * c.tokens), e = static_cast<std::size_t>(c.experts);
  Batch b{{sequences, c.tokens, c.experts, c.labels}, std::vector<float>(rows * e), {}, c.domains};
  const std::vector<float> logits = test::normal_values(rows * e, seed, c.logit_scale);
  for (std::size_t row = 0; row < rows; ++row) {
    double total = 0.0;
    for (std::size_t x = 0; x < e; ++x) total += std::exp(static_cast<double>(logits[row * e + x]));
    for (std::size_t x = 0; x < e; ++x)
      b.probs[row * e + x] = static_cast<float>(std::exp(static_cast<double>(logits[row * e + x])) / total);
  }
  if (c.masked) {
    std::mt19937 rng(seed);
    b.mask.resize(rows);
    for (auto& m : b.mask) m = rng() % 10 < 7 ? 1 : 0;
    for (std::int64_t s = 0; s < sequences; ++s) b.mask[static_cast<std::size_t>(s * c.tokens + s % c.tokens)] = 1;
  }
  return b;
}

Tensor host_ints(std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape) {
  return values.empty() ? Tensor{} : make_view(values.data(), DType::i32, Device::cpu, shape);
}

// An empty list is the op's "no mask": an empty tensor.
Tensor device_ints(Arena& arena, const std::vector<std::int32_t>& values, std::initializer_list<std::int64_t> shape) {
  return values.empty() ? Tensor{} : test::to_device_i32(arena, values, shape);
}

// The CPU's three steps.
struct EdlResult {
  std::vector<float> sums, counts, jsd, dsums, dlogits;
  std::vector<std::int32_t> present;
  float loss = 0.0f;
};

EdlResult cpu_edl(Batch& b, const std::vector<float>& dlogits) {
  const auto [S, T, E, M] = b.shape;
  const auto m = static_cast<std::size_t>(M), me = static_cast<std::size_t>(M * E);
  EdlResult r{std::vector<float>(me),
              std::vector<float>(m),
              std::vector<float>(m * m),
              std::vector<float>(me),
              dlogits,
              std::vector<std::int32_t>(m),
              0.0f};
  const Tensor probs = test::host_tensor(b.probs, {S * T, E}), mask = host_ints(b.mask, {S, T}),
               domains = host_ints(b.domains, {S}), sums = test::host_tensor(r.sums, {M, E}),
               counts = test::host_tensor(r.counts, {M}), dsums = test::host_tensor(r.dsums, {M, E});
  ops::edl_domain_sums(probs, mask, domains, sums, counts);
  r.loss = test::loss_value(Device::cpu, [&](const Tensor& loss) {
    ops::edl_loss_from_sums(sums, counts, kEps, test::host_tensor(r.jsd, {M, M}), host_ints(r.present, {M}), dsums,
                            loss);
  });
  ops::edl_backward(probs, mask, domains, dsums, kCoef, test::host_tensor(r.dlogits, {S * T, E}));
  return r;
}

// Bounds on what the two sides' step (b) may differ by before the final rounding to f32. Both compute in double
// from the same f32 sums and counts, so the r_j are the same bits; what differs is the order of the JSD's E terms
// (E epsilon of the terms' magnitudes), the device's logs (within an epsilon each, so g = 1/2 (log p - log m) within
// an epsilon of |log p| + |log m| + |g|), and the order of the loss's pair sum. A JSD error moves JSD + eps, hence
// -log(JSD + eps) and dpair, by its share of JSD + eps: what near-identical domains (JSD close to eps) feel most.
struct StepBBounds {
  std::vector<double> jsd;    // (M, M): |difference| of the double JSDs
  double loss = 0.0;          // of the double loss
  std::vector<double> dsums;  // (M, E): of the double dsums
};

double log_magnitude(double p, double q) {
  return std::fabs(cpu::clamped_log(p)) + std::fabs(cpu::clamped_log(0.5 * (p + q))) +
         std::fabs(cpu::jsd_gradient(p, q));
}

StepBBounds step_b_bounds(const EdlResult& cpu, std::int64_t labels, std::int64_t experts) {
  const auto m = static_cast<std::size_t>(labels), e = static_cast<std::size_t>(experts);
  std::vector<double> r(m * e, 0.0), divergence(m * m, 0.0);
  std::vector<std::size_t> present;
  for (std::size_t j = 0; j < m; ++j) {
    if (cpu.counts[j] == 0.0f) continue;
    present.push_back(j);
    for (std::size_t x = 0; x < e; ++x) r[j * e + x] = static_cast<double>(cpu.sums[j * e + x]) / cpu.counts[j];
  }
  StepBBounds bounds{std::vector<double>(m * m, 0.0), 0.0, std::vector<double>(m * e, 0.0)};
  const double pairs = static_cast<double>(present.size() * (present.size() - 1) / 2);
  for (std::size_t j : present) {
    for (std::size_t k : present) {
      if (j == k) continue;
      const double* rj = r.data() + j * e;
      const double* rk = r.data() + k * e;
      double magnitude = 0.0;
      for (std::size_t x = 0; x < e; ++x)
        magnitude += rj[x] * log_magnitude(rj[x], rk[x]) + rk[x] * log_magnitude(rk[x], rj[x]);
      divergence[j * m + k] = cpu::jensen_shannon(rj, rk, experts);
      bounds.jsd[j * m + k] = static_cast<double>(experts + 4) * kDoubleEps * magnitude;
    }
  }
  for (std::size_t j : present) {
    for (std::size_t k : present) {
      if (j == k) continue;
      const double shifted = divergence[j * m + k] + static_cast<double>(kEps);
      const double relative = bounds.jsd[j * m + k] / shifted + 2.0 * kDoubleEps;  // of JSD + eps, hence of dpair
      if (j < k) bounds.loss += (relative + (pairs + 3.0) * kDoubleEps * std::fabs(std::log(shifted))) / pairs;
      const double dpair = 1.0 / (pairs * shifted);
      for (std::size_t x = 0; x < e; ++x) {
        const double g = cpu::jsd_gradient(r[j * e + x], r[k * e + x]);
        bounds.dsums[j * e + x] += dpair *
                                   (std::fabs(g) * (relative + static_cast<double>(labels + 4) * kDoubleEps) +
                                    kDoubleEps * log_magnitude(r[j * e + x], r[k * e + x])) /
                                   cpu.counts[j];
      }
    }
  }
  return bounds;
}

// Two f32 roundings of doubles at most `apart` from each other: each moves its double by half an f32 unit in the
// last place, so together by at most one, kFloatEps of the value.
bool rounded_alike(float got, float want, double apart) {
  const double value = std::max(std::fabs(static_cast<double>(got)), std::fabs(static_cast<double>(want)));
  return std::fabs(static_cast<double>(got) - want) <= kFloatEps * value + apart;
}

void check_edl_case(const Case& c) {
  Batch b = make_batch(c, static_cast<std::uint32_t>(c.domains.size() * 31 + static_cast<std::size_t>(c.experts)));
  const auto [S, T, E, M] = b.shape;
  const auto rows = static_cast<std::size_t>(S * T), e = static_cast<std::size_t>(E);
  const std::vector<float> start = test::normal_values(rows * e, 7, 0.1f);
  const EdlResult cpu = cpu_edl(b, start);

  Arena arena = test::device_arena(4 * (rows * e + static_cast<std::size_t>(M * (2 * E + M + 2) + S)) * sizeof(float) +
                                   32 * Arena::kAlignment);
  const Tensor probs = test::to_device(arena, b.probs, {S * T, E}), mask = device_ints(arena, b.mask, {S, T}),
               domains = device_ints(arena, b.domains, {S});

  // (a): q_s (T positive terms, then a product by 1 / |tok(s)|) and the domain sums (S of them) in double on both
  // sides in other orders: the doubles differ by (T + S + 2) epsilon of the value, then each rounds once to f32.
  const Tensor sums = arena.alloc(DType::f32, {M, E}), counts = arena.alloc(DType::f32, {M});
  ops::edl_domain_sums(probs, mask, domains, sums, counts);
  const std::vector<float> got_sums = test::to_host(sums);
  CHECK(test::to_host(counts) == cpu.counts);
  int outside = 0;
  for (std::size_t i = 0; i < got_sums.size(); ++i)
    outside +=
        rounded_alike(got_sums[i], cpu.sums[i], static_cast<double>(T + S + 2) * kDoubleEps * cpu.sums[i]) ? 0 : 1;
  CHECK(outside == 0);

  // (b) on the CPU's sums and counts.
  outside = 0;
  const Tensor jsd = arena.alloc(DType::f32, {M, M}), present = arena.alloc(DType::i32, {M}),
               dsums = arena.alloc(DType::f32, {M, E});
  const float loss = test::loss_value(Device::cuda, [&](const Tensor& out) {
    ops::edl_loss_from_sums(test::to_device(arena, cpu.sums, {M, E}), test::to_device(arena, cpu.counts, {M}), kEps,
                            jsd, present, dsums, out);
  });
  const StepBBounds bounds = step_b_bounds(cpu, M, E);
  CHECK(rounded_alike(loss, cpu.loss, bounds.loss));
  CHECK(std::isfinite(loss));
  CHECK(test::i32_to_host(present) == cpu.present);
  const std::vector<float> got_jsd = test::to_host(jsd), got_dsums = test::to_host(dsums);
  for (std::size_t i = 0; i < got_jsd.size(); ++i)
    outside += rounded_alike(got_jsd[i], cpu.jsd[i], bounds.jsd[i]) ? 0 : 1;
  for (std::size_t i = 0; i < got_dsums.size(); ++i)
    outside += rounded_alike(got_dsums[i], cpu.dsums[i], bounds.dsums[i]) ? 0 : 1;
  CHECK(outside == 0);

  // (c) on the CPU's dsums. Per token, <g, p> sums E products in another order (E epsilon of sum_e |g_e p_e|);
  // the difference g - <g, p>, the two products and the addition round once each on each side (or fuse): a few
  // epsilon of the old value and of the term's factors.
  const Tensor dlogits = test::to_device(arena, start, {S * T, E});
  ops::edl_backward(probs, mask, domains, test::to_device(arena, cpu.dsums, {M, E}), kCoef, dlogits);
  const std::vector<float> got_dlogits = test::to_host(dlogits);
  outside = 0;
  for (std::size_t row = 0; row < rows; ++row) {
    const std::size_t s = row / static_cast<std::size_t>(T);
    const float* g = cpu.dsums.data() + static_cast<std::size_t>(b.domains[s]) * e;
    const float* p = b.probs.data() + row * e;
    std::int64_t targets = T;
    if (!b.mask.empty()) {
      targets = 0;
      for (std::size_t t = 0; t < static_cast<std::size_t>(T); ++t)
        targets += b.mask[s * static_cast<std::size_t>(T) + t];
    }
    const double scale = std::fabs(kCoef) / static_cast<double>(targets);
    double products = 0.0, projection = 0.0;
    for (std::size_t x = 0; x < e; ++x) {
      products += std::fabs(g[x] * p[x]);
      projection += g[x] * p[x];
    }
    for (std::size_t x = 0; x < e; ++x) {
      const std::size_t i = row * e + x;
      const double term = scale * p[x] * (std::fabs(g[x]) + std::fabs(projection));
      const double bound =
          scale * p[x] * static_cast<double>(E) * kFloatEps * products + 4.0 * kFloatEps * (std::fabs(start[i]) + term);
      outside += std::fabs(static_cast<double>(got_dlogits[i]) - cpu.dlogits[i]) <= bound ? 0 : 1;
    }
  }
  CHECK(outside == 0);
}

}  // namespace

TEST_CASE("cuda edl: each step matches the CPU on the same inputs" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const Case& c : edl_cases()) {
    const std::string name = c.name;
    CAPTURE(name);
    check_edl_case(c);
  }
}

TEST_CASE("cuda edl: one domain gives loss 0, a zero JSD matrix and zero dsums, never NaN" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  Batch b = make_batch({"one domain", 6, 5, 3, {2, 2}, true, 1.0f}, 3);
  const auto [S, T, E, M] = b.shape;
  Arena arena = test::device_arena(64 * 1024);
  const Tensor probs = test::to_device(arena, b.probs, {S * T, E});
  const ops::EdlBuffers buffers{arena.alloc(DType::f32, {M, E}), arena.alloc(DType::f32, {M}),
                                arena.alloc(DType::f32, {M, M}), arena.alloc(DType::i32, {M}),
                                arena.alloc(DType::f32, {M, E}),   arena.alloc(DType::f32, {1})};
  const std::vector<float> start = test::normal_values(static_cast<std::size_t>(S * T * E), 4, 1.0f);
  const Tensor dlogits = test::to_device(arena, start, {S * T, E});
  ops::expert_divergence_loss(probs, device_ints(arena, b.mask, {S, T}), device_ints(arena, b.domains, {S}), kEps,
                              buffers, 1.0f, dlogits);
  CHECK(test::to_host(buffers.loss) == std::vector<float>{0.0f});
  CHECK(test::to_host(buffers.jsd) == std::vector<float>(static_cast<std::size_t>(M * M), 0.0f));
  CHECK(test::to_host(buffers.dsums) == std::vector<float>(static_cast<std::size_t>(M * E), 0.0f));
  CHECK(test::i32_to_host(buffers.present) == std::vector<std::int32_t>{0, 0, 1});
  CHECK(test::to_host(dlogits) == start);
}

TEST_CASE("cuda edl: the fused op is the three steps, and gives the same bits on every run" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const Case c = edl_cases()[2];
  Batch b = make_batch(c, 5);
  const auto [S, T, E, M] = b.shape;
  Arena arena = test::device_arena(4 * 1024 * 1024);
  const Tensor probs = test::to_device(arena, b.probs, {S * T, E}), mask = device_ints(arena, b.mask, {S, T}),
               domains = device_ints(arena, b.domains, {S});
  const std::vector<float> start = test::normal_values(static_cast<std::size_t>(S * T * E), 6, 0.1f);
  struct Run {
    float loss;
    std::vector<float> sums, jsd, dsums, dlogits;
    bool operator==(const Run&) const = default;
  };
  auto fused = [&] {
    const ops::EdlBuffers buffers{arena.alloc(DType::f32, {M, E}), arena.alloc(DType::f32, {M}),
                                  arena.alloc(DType::f32, {M, M}), Tensor{},
                                  arena.alloc(DType::f32, {M, E}), arena.alloc(DType::f32, {1})};
    const Tensor dlogits = test::to_device(arena, start, {S * T, E});
    ops::expert_divergence_loss(probs, mask, domains, kEps, buffers, kCoef, dlogits);
    return Run{test::to_host(buffers.loss)[0], test::to_host(buffers.sums), test::to_host(buffers.jsd),
               test::to_host(buffers.dsums), test::to_host(dlogits)};
  };
  const Run first = fused(), second = fused();
  CHECK(first == second);

  const Tensor sums = arena.alloc(DType::f32, {M, E}), counts = arena.alloc(DType::f32, {M}),
               jsd = arena.alloc(DType::f32, {M, M}), dsums = arena.alloc(DType::f32, {M, E}),
               dlogits = test::to_device(arena, start, {S * T, E});
  ops::edl_domain_sums(probs, mask, domains, sums, counts);
  const float loss = test::loss_value(
      Device::cuda, [&](const Tensor& out) { ops::edl_loss_from_sums(sums, counts, kEps, jsd, Tensor{}, dsums, out); });
  ops::edl_backward(probs, mask, domains, dsums, kCoef, dlogits);
  CHECK(Run{loss, test::to_host(sums), test::to_host(jsd), test::to_host(dsums), test::to_host(dlogits)} == first);
}

TEST_CASE("cuda edl: an invalid batch gives NaN counts, a NaN loss, JSDs and dsums, and NaN rows in the backward" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  Batch b = make_batch({"two domains", 3, 4, 2, {0, 1, 0}, true, 1.0f}, 8);
  const auto [S, T, E, M] = b.shape;
  Arena arena = test::device_arena(64 * 1024);
  const Tensor probs = test::to_device(arena, b.probs, {S * T, E});
  const ops::EdlBuffers buffers{arena.alloc(DType::f32, {M, E}), arena.alloc(DType::f32, {M}),
                                arena.alloc(DType::f32, {M, M}), Tensor{},
                                arena.alloc(DType::f32, {M, E}), arena.alloc(DType::f32, {1})};
  auto all_nan = [](const std::vector<float>& values) {
    return std::all_of(values.begin(), values.end(), [](float v) { return std::isnan(v); });
  };
  struct Invalid {
    const char* name;
    std::vector<std::int32_t> mask, domains;
  };
  const Invalid invalid[] = {{"a sequence without a target-bearing token", {1, 0, 1, 0, 0, 0, 1, 1, 1}, {0, 1, 0}},
                             {"a mask value of 2", {1, 0, 1, 0, 2, 0, 1, 1, 1}, {0, 1, 0}},
                             {"a domain id outside [0, M)", {1, 0, 1, 1, 1, 0, 1, 1, 1}, {0, 2, 0}},
                             {"a negative domain id", {1, 0, 1, 1, 1, 0, 1, 1, 1}, {0, -1, 0}}};
  for (const Invalid& bad : invalid) {
    const std::string name = bad.name;
    CAPTURE(name);
    const Tensor mask = device_ints(arena, bad.mask, {S, T}), domains = device_ints(arena, bad.domains, {S});
    ops::edl_domain_sums(probs, mask, domains, buffers.sums, buffers.counts);
    CHECK(all_nan(test::to_host(buffers.counts)));
    ops::edl_loss_from_sums(buffers.sums, buffers.counts, kEps, buffers.jsd, Tensor{}, buffers.dsums, buffers.loss);
    CHECK(all_nan(test::to_host(buffers.loss)));
    CHECK(all_nan(test::to_host(buffers.jsd)));
    CHECK(all_nan(test::to_host(buffers.dsums)));
    // The backward on the invalid sequence (1) only: NaN in its rows, the others' rows as they were (their dsums 0).
    const std::vector<float> zeros(static_cast<std::size_t>(S * T * E), 0.0f);
    const Tensor dlogits = test::to_device(arena, zeros, {S * T, E});
    ops::edl_backward(probs, mask, domains, test::to_device(arena, std::vector<float>(8, 0.0f), {M, E}), 1.0f, dlogits);
    const std::vector<float> got = test::to_host(dlogits);
    for (std::size_t i = 0; i < got.size(); ++i)
      CHECK((i / static_cast<std::size_t>(T * E) == 1) == std::isnan(got[i]));
  }
  // A negative count handed to (b) directly: the CPU refuses it; on CUDA, where nothing is read back, the loss is NaN.
  std::vector<float> sums(8, 0.25f), counts = {1.0f, -1.0f}, jsd(4), loss(1);
  CHECK(test::contains(test::error_message([&] {
                         ops::edl_loss_from_sums(test::host_tensor(sums, {M, E}), test::host_tensor(counts, {M}), kEps,
                                                 test::host_tensor(jsd, {M, M}), Tensor{}, Tensor{},
                                                 test::host_tensor(loss, {1}));
                       }),
                       "counts[1] is -1"));
  ops::edl_loss_from_sums(test::to_device(arena, sums, {M, E}), test::to_device(arena, counts, {M}), kEps, buffers.jsd,
                          Tensor{}, Tensor{}, buffers.loss);
  CHECK(all_nan(test::to_host(buffers.loss)));
}

namespace {

// topk (S * T, k): k distinct experts per token.
std::vector<std::int32_t> random_topk(std::size_t rows, std::int64_t experts, std::int64_t k, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::int32_t> order(static_cast<std::size_t>(experts)), topk;
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t x = 0; x < order.size(); ++x) order[x] = static_cast<std::int32_t>(x);
    std::shuffle(order.begin(), order.end(), rng);
    topk.insert(topk.end(), order.begin(), order.begin() + k);
  }
  return topk;
}

struct RoutingBatch {
  Batch batch;
  std::vector<std::int32_t> topk;  // empty: no top-k sums
  std::int64_t top_k;
};

std::vector<RoutingBatch> routing_batches() {
  const std::vector<Case> cases = edl_cases();
  std::vector<RoutingBatch> batches;
  for (std::size_t i : {0, 2, 4}) {
    Batch b = make_batch(cases[i], static_cast<std::uint32_t>(40 + i));
    const auto rows = static_cast<std::size_t>(b.shape.sequences * b.shape.tokens);
    const std::int64_t k = i == 2 ? b.shape.experts : 2;  // top_k = E once
    batches.push_back({b, random_topk(rows, b.shape.experts, k, static_cast<std::uint32_t>(i)), k});
  }
  batches.push_back({make_batch(cases[3], 44), {}, 0});
  return batches;
}

// The window of micro_batches adds on CUDA: into host sums (one copy per add), or into a device window read once.
ops::RoutingSums cuda_routing_sums(RoutingBatch& r, int micro_batches, bool device_window) {
  const auto [S, T, E, M] = r.batch.shape;
  const std::int64_t window_size = ops::routing_window_size(M, E);
  Arena arena = test::device_arena(4 * static_cast<std::size_t>(S * T * (E + 2 + r.top_k)) * sizeof(float) +
                                   static_cast<std::size_t>(window_size) * sizeof(double) + 8 * Arena::kAlignment);
  const Tensor probs = test::to_device(arena, r.batch.probs, {S * T, E}),
               mask = device_ints(arena, r.batch.mask, {S, T}), domains = device_ints(arena, r.batch.domains, {S}),
               topk = device_ints(arena, r.topk, {S * T, r.top_k});
  ops::RoutingSums sums(M, E);
  if (!device_window) {
    for (int i = 0; i < micro_batches; ++i) ops::routing_sums_add(probs, mask, domains, topk, sums);
    return sums;
  }
  const Tensor window = arena.alloc_zeroed(DType::f64, {window_size});
  for (int i = 0; i < micro_batches; ++i) ops::routing_window_add(probs, mask, domains, topk, window, M);
  return ops::routing_window_read(window, M, E);
}

}  // namespace

TEST_CASE("cuda routing sums: two micro-batches match the CPU's window, added on the host or on the device" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (RoutingBatch& r : routing_batches())
    for (const bool device_window : {false, true}) {
      const auto [S, T, E, M] = r.batch.shape;
      CAPTURE(device_window);
      CAPTURE(S);
      CAPTURE(E);
      CAPTURE(r.top_k);
      ops::RoutingSums want(M, E);
      for (int i = 0; i < 2; ++i)
        ops::routing_sums_add(test::host_tensor(r.batch.probs, {S * T, E}), host_ints(r.batch.mask, {S, T}),
                              host_ints(r.batch.domains, {S}), host_ints(r.topk, {S * T, r.top_k}), want);
      const ops::RoutingSums got = cuda_routing_sums(r, 2, device_window);
      // Counts of sequences, tokens and assignments are integers, exact in double.
      CHECK(got.sequences == want.sequences);
      CHECK(got.tokens == want.tokens);
      CHECK(got.assignments == want.assignments);
      // q_sum adds positive terms on both sides in double, T per sequence mean (then a product by 1 / |tok(s)|) and
      // one per sequence of the two micro-batches into the window, in other orders: (T + 2 S + 2) epsilon of the
      // value. q_log_q adds E terms q log q of one sign per sequence; the q_s feeding them differ by T + 2 epsilon,
      // moving q log q by as much of |q log q| + q, and the device's log is within an epsilon: with sum_e q_e = 1
      // per sequence, (T + E + 2 S + 6) epsilon of |value| + the sequences.
      int outside = 0;
      for (std::size_t i = 0; i < want.q_sum.size(); ++i)
        outside +=
            std::fabs(got.q_sum[i] - want.q_sum[i]) <= static_cast<double>(T + 2 * S + 2) * kDoubleEps * want.q_sum[i]
                ? 0
                : 1;
      for (std::size_t j = 0; j < want.q_log_q.size(); ++j) {
        const double bound =
            static_cast<double>(T + E + 2 * S + 6) * kDoubleEps * (std::fabs(want.q_log_q[j]) + want.sequences[j]);
        outside += std::fabs(got.q_log_q[j] - want.q_log_q[j]) <= bound ? 0 : 1;
      }
      CHECK(outside == 0);
      CHECK(cuda_routing_sums(r, 2, device_window).q_log_q == got.q_log_q);  // the same bits on every run
      CHECK(cuda_routing_sums(r, 2, device_window).q_sum == got.q_sum);
    }
}

TEST_CASE("cuda routing sums: an invalid batch throws the CPU's Error and leaves the window untouched" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  std::vector<float> probs(6 * 4, 0.25f);
  struct Invalid {
    const char* name;
    std::vector<std::int32_t> mask, domains, topk;
  };
  const std::vector<std::int32_t> good_topk = {0, 1, 2, 3, 0, 1};
  const Invalid invalid[] = {{"domain id", {1, 1, 0, 1, 1, 1}, {0, 2, 1}, good_topk},
                             {"expert id", {1, 1, 0, 1, 1, 1}, {0, 1, 1}, {0, 1, 2, 4, 0, 1}},
                             {"no target-bearing token", {1, 1, 0, 0, 1, 1}, {0, 1, 1}, good_topk},
                             {"mask value", {1, 1, 0, 3, 1, 1}, {0, 1, 1}, good_topk},
                             {"no target-bearing token, no top-k", {1, 1, 0, 0, 1, 1}, {0, 1, 1}, {}}};
  Arena arena = test::device_arena(64 * 1024);
  for (Invalid bad : invalid) {
    const std::string name = bad.name;
    CAPTURE(name);
    const std::int64_t k = bad.topk.empty() ? 0 : 1;
    ops::RoutingSums on_cpu(2, 4), on_cuda(2, 4);
    const std::string want = test::error_message([&] {
      ops::routing_sums_add(test::host_tensor(probs, {6, 4}), host_ints(bad.mask, {3, 2}), host_ints(bad.domains, {3}),
                            host_ints(bad.topk, {6, k}), on_cpu);
    });
    CHECK(test::contains(want, "routing_sums_add: "));
    CHECK(test::error_message([&] {
            ops::routing_sums_add(test::to_device(arena, probs, {6, 4}), device_ints(arena, bad.mask, {3, 2}),
                                  device_ints(arena, bad.domains, {3}), device_ints(arena, bad.topk, {6, k}), on_cuda);
          }) == want);
    CHECK(on_cuda.sequences == std::vector<double>{0.0, 0.0});
    CHECK(on_cuda.q_sum == std::vector<double>(8, 0.0));
    // A device window has no host round trip to fail on: the whole window turns NaN, for its reader to report.
    const Tensor window = arena.alloc_zeroed(DType::f64, {ops::routing_window_size(2, 4)});
    ops::routing_window_add(test::to_device(arena, probs, {6, 4}), device_ints(arena, bad.mask, {3, 2}),
                            device_ints(arena, bad.domains, {3}), device_ints(arena, bad.topk, {6, k}), window, 2);
    const ops::RoutingSums read = ops::routing_window_read(window, 2, 4);
    CHECK(std::isnan(read.sequences[0]));
    CHECK(std::isnan(read.q_sum[7]));
  }
}
