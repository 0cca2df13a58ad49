// Tests for the Expert Divergence Loss op: JSD closed forms, hand-computed losses, invariance under relabelling,
// gradients into router logits against finite differences, the three-step split (and the global scope it allows)
// against the fused op, and argument errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <type_traits>

#include "kernels/cpu/divergence.h"
#include "kernels/ops.h"
#include "tests/edl_support.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

constexpr double kEps = 1e-6;

EdlBatch random_batch(std::int64_t tokens, std::int64_t experts, std::int64_t labels,
                      std::vector<std::int32_t> domains, std::uint64_t seed) {
  const auto sequences = static_cast<std::int64_t>(domains.size());
  return {{sequences, tokens, experts, labels},
          random_values(static_cast<std::size_t>(sequences * tokens * experts), seed, -2.0, 2.0),
          {},
          std::move(domains)};
}

// JSD(P, Q) written out from its definition, independently of the kernel's grouping of terms.
double jsd_by_definition(const std::vector<double>& p, const std::vector<double>& q) {
  double kl_p = 0.0, kl_q = 0.0;
  for (std::size_t e = 0; e < p.size(); ++e) {
    const double m = 0.5 * (p[e] + q[e]);
    if (p[e] > 0.0) kl_p += p[e] * std::log(p[e] / m);
    if (q[e] > 0.0) kl_q += q[e] * std::log(q[e] / m);
  }
  return 0.5 * kl_p + 0.5 * kl_q;
}

}  // namespace

TEST_CASE("JSD closed forms: identical distributions 0, disjoint supports ln 2, a two-expert case by hand") {
  const std::vector<double> p = {0.2, 0.3, 0.5};
  CHECK(cpu::jensen_shannon(p.data(), p.data(), 3) == doctest::Approx(0.0).epsilon(1e-15));
  const std::vector<double> a = {0.5, 0.5, 0.0, 0.0}, b = {0.0, 0.0, 0.25, 0.75};
  CHECK(cpu::jensen_shannon(a.data(), b.data(), 4) == doctest::Approx(std::log(2.0)).epsilon(1e-14));
  // P = (1/2, 1/2), Q = (1, 0): m = (3/4, 1/4), KL(P||m) = 1/2 ln(4/3), KL(Q||m) = ln(4/3), so JSD = 3/4 ln(4/3).
  const std::vector<double> half = {0.5, 0.5}, one = {1.0, 0.0};
  CHECK(cpu::jensen_shannon(half.data(), one.data(), 2) == doctest::Approx(0.75 * std::log(4.0 / 3.0)).epsilon(1e-14));
  const auto r = random_values(6, 9, 0.0, 1.0), s = random_values(6, 10, 0.0, 1.0);
  const double rs = std::accumulate(r.begin(), r.end(), 0.0), ss = std::accumulate(s.begin(), s.end(), 0.0);
  std::vector<double> rn(6), sn(6);
  for (std::size_t e = 0; e < 6; ++e) rn[e] = r[e] / rs, sn[e] = s[e] / ss;
  CHECK(cpu::jensen_shannon(rn.data(), sn.data(), 6) == doctest::Approx(jsd_by_definition(rn, sn)).epsilon(1e-13));
}

TEST_CASE("EDL loss of a hand-made batch: masked tokens ignored, sequences averaged per domain, absent domains 0") {
  // Domain 0: two sequences with q = (1/2, 1/2); domain 2: one sequence with q = (1, 0); domain 1 is absent.
  // The third token of every sequence is masked out and holds probabilities that would change every mean.
  const cpu::SequenceShape s{3, 3, 2, 3};
  const std::vector<double> probs = {0.6, 0.4, 0.4, 0.6, 0.0, 1.0,   // sequence 0, domain 0
                                     0.5, 0.5, 0.5, 0.5, 1.0, 0.0,   // sequence 1, domain 0
                                     1.0, 0.0, 1.0, 0.0, 0.0, 1.0};  // sequence 2, domain 2
  const std::vector<std::int32_t> mask = {1, 1, 0, 1, 1, 0, 1, 1, 0};
  const std::vector<std::int32_t> domains = {0, 0, 2};
  std::vector<double> sums(6), counts(3), jsd(9), dsums(6);
  std::vector<std::int32_t> present(3);
  cpu::edl_domain_sums(s, probs.data(), mask.data(), domains.data(), sums.data(), counts.data());
  CHECK(counts == std::vector<double>{2.0, 0.0, 1.0});
  CHECK(sums[0] == doctest::Approx(1.0));
  CHECK(sums[4] == doctest::Approx(1.0));
  const double loss = cpu::edl_loss_from_sums(sums.data(), counts.data(), 3, 2, kEps, jsd.data(), present.data(),
                                              dsums.data());
  const double pair = 0.75 * std::log(4.0 / 3.0);
  CHECK(loss == doctest::Approx(-std::log(pair + kEps)).epsilon(1e-13));
  CHECK(jsd == std::vector<double>{0.0, 0.0, jsd[2], 0.0, 0.0, 0.0, jsd[2], 0.0, 0.0});
  CHECK(jsd[2] == doctest::Approx(pair).epsilon(1e-14));
  CHECK(present == std::vector<std::int32_t>{1, 0, 1});
  CHECK(dsums[2] == 0.0);
  CHECK(dsums[3] == 0.0);
}

TEST_CASE("EDL loss with three domains is the mean of the three pairs' -log(JSD + eps)") {
  const std::vector<double> sums = {0.7, 0.2, 0.1,  //
                                    0.2, 0.2, 0.6,  //
                                    0.9, 0.6, 1.5};  // two sequences: r = (0.3, 0.2, 0.5)
  const std::vector<double> counts = {1.0, 1.0, 3.0};
  const std::vector<double> r0 = {0.7, 0.2, 0.1}, r1 = {0.2, 0.2, 0.6}, r2 = {0.3, 0.2, 0.5};
  const double want = -(std::log(jsd_by_definition(r0, r1) + 0.01) + std::log(jsd_by_definition(r0, r2) + 0.01) +
                        std::log(jsd_by_definition(r1, r2) + 0.01)) /
                      3.0;
  std::vector<double> jsd(9);
  CHECK(cpu::edl_loss_from_sums<double>(sums.data(), counts.data(), 3, 3, 0.01, jsd.data(), nullptr, nullptr) ==
        doctest::Approx(want).epsilon(1e-13));
  CHECK(jsd[1 * 3 + 2] == doctest::Approx(jsd_by_definition(r1, r2)).epsilon(1e-13));
}

TEST_CASE("EDL loss is unchanged when domain ids are permuted; the JSD matrix permutes with them") {
  const EdlBatch batch = random_batch(4, 5, 4, {0, 1, 2, 3, 1, 0, 2}, 11);
  const std::vector<std::int32_t> perm = {2, 0, 3, 1};
  EdlBatch relabelled = batch;
  for (auto& d : relabelled.domains) d = perm[static_cast<std::size_t>(d)];
  const EdlForward a = edl_forward(batch, kEps), b = edl_forward(relabelled, kEps);
  CHECK(b.loss == doctest::Approx(a.loss).epsilon(1e-13));
  for (std::size_t j = 0; j < 4; ++j)
    for (std::size_t k = 0; k < 4; ++k) CHECK(b.jsd[perm[j] * 4 + perm[k]] == doctest::Approx(a.jsd[j * 4 + k]));
  CHECK(max_rel_error(edl_gradient(relabelled, kEps, 1.0), edl_gradient(batch, kEps, 1.0)) < 1e-12);
}

TEST_CASE("EDL gradient into router logits matches finite differences") {
  struct Case {
    const char* name;
    EdlBatch batch;
  };
  EdlBatch masked = random_batch(4, 5, 3, {0, 1, 2, 1}, 21);
  masked.mask = {1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1};
  std::vector<Case> cases = {
      {"two domains", random_batch(3, 4, 2, {0, 1, 1, 0}, 12)},
      {"three domains", random_batch(3, 6, 3, {2, 0, 1, 0, 2}, 13)},
      {"a domain with one sequence", random_batch(4, 5, 3, {0, 0, 1, 2, 2, 0}, 14)},
      {"absent labels in between", random_batch(2, 4, 6, {5, 1, 5, 3}, 15)},
      {"masks with some zeros", masked},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    const double coef = 0.37;
    std::vector<double> dlogits = edl_gradient(c.batch, kEps, coef);
    auto loss = [&] { return coef * edl_forward(c.batch, kEps).loss; };
    CHECK(max_rel_error(dlogits, numeric_gradient(c.batch.logits, loss)) < 1e-6);
  }
}

TEST_CASE("EDL with one domain only: loss 0, JSD 0, zero gradient, never NaN") {
  EdlBatch batch = random_batch(3, 4, 3, {1, 1, 1}, 16);
  const EdlForward f = edl_forward(batch, kEps);
  CHECK(f.loss == 0.0);
  CHECK(std::all_of(f.jsd.begin(), f.jsd.end(), [](double v) { return v == 0.0; }));
  CHECK(std::all_of(f.dsums.begin(), f.dsums.end(), [](double v) { return v == 0.0; }));
  CHECK(f.present == std::vector<std::int32_t>{0, 1, 0});
  const auto dlogits = edl_gradient(batch, kEps, 1.0);
  CHECK(std::all_of(dlogits.begin(), dlogits.end(), [](double v) { return v == 0.0; }));
}

TEST_CASE("EDL backward adds into dlogits and leaves masked-out tokens alone") {
  EdlBatch batch = random_batch(2, 3, 2, {0, 1}, 17);
  batch.mask = {1, 0, 0, 1};
  const EdlForward f = edl_forward(batch, kEps);
  const auto probs = softmax_rows(batch.logits, 3);
  std::vector<double> dlogits(batch.logits.size(), 0.25);
  cpu::edl_backward(batch.shape, probs.data(), batch.mask.data(), batch.domains.data(), f.dsums.data(), 2.0,
                    dlogits.data());
  const auto fresh = edl_gradient(batch, kEps, 2.0);
  for (std::size_t i = 0; i < dlogits.size(); ++i) CHECK(dlogits[i] == doctest::Approx(fresh[i] + 0.25));
  for (std::size_t row : {1, 2})
    for (std::size_t e = 0; e < 3; ++e) CHECK(dlogits[row * 3 + e] == 0.25);
}

TEST_CASE("EDL ops: (a) -> (b) -> (c) equals the fused op") {
  const EdlBatch batch = random_batch(3, 4, 3, {0, 2, 1, 0, 2, 2}, 18);
  auto probs = to_float(softmax_rows(batch.logits, 4));
  const auto rows = static_cast<std::int64_t>(probs.size() / 4);
  std::vector<std::int32_t> mask = {1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1};
  auto view = [](auto& v, std::initializer_list<std::int64_t> shape) {
    using V = typename std::decay_t<decltype(v)>::value_type;
    return make_view(v.data(), std::is_same_v<V, float> ? DType::f32 : DType::i32, Device::cpu, shape);
  };
  std::vector<std::int32_t> domains = batch.domains;
  std::vector<float> sums(12), counts(3), jsd(9), dsums(12), fused_dlogits(probs.size(), 0.0f);
  std::vector<std::int32_t> present(3);
  std::vector<float> fused(1), split(1);
  const ops::EdlBuffers buffers{view(sums, {3, 4}), view(counts, {3}),  view(jsd, {3, 3}),
                                view(present, {3}), view(dsums, {3, 4}), view(fused, {1})};
  const Tensor tprobs = view(probs, {rows, 4}), tmask = view(mask, {6, 3}), tdomains = view(domains, {6});
  ops::expert_divergence_loss(tprobs, tmask, tdomains, 1e-6f, buffers, 0.5f, view(fused_dlogits, {rows, 4}));

  std::vector<float> split_dlogits(probs.size(), 0.0f), sums2(12), counts2(3), jsd2(9), dsums2(12);
  ops::edl_domain_sums(tprobs, tmask, tdomains, view(sums2, {3, 4}), view(counts2, {3}));
  ops::edl_loss_from_sums(view(sums2, {3, 4}), view(counts2, {3}), 1e-6f, view(jsd2, {3, 3}), Tensor{},
                          view(dsums2, {3, 4}), view(split, {1}));
  ops::edl_backward(tprobs, tmask, tdomains, view(dsums2, {3, 4}), 0.5f, view(split_dlogits, {rows, 4}));
  CHECK(split == fused);
  CHECK(split_dlogits == fused_dlogits);
  CHECK(jsd2 == jsd);
  CHECK(present == std::vector<std::int32_t>{1, 1, 1});
}

TEST_CASE("EDL global scope: per-rank sums added, then per-rank backward, equal one process on the whole batch") {
  EdlBatch batch = random_batch(3, 4, 3, {0, 2, 1, 0, 2, 2}, 18);
  batch.mask = {1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1};
  const EdlForward whole = edl_forward(batch, kEps);
  const std::vector<double> whole_dlogits = edl_gradient(batch, kEps, 0.5);
  const auto probs = softmax_rows(batch.logits, 4);

  // Two ranks holding sequences 0-3 and 4-5: (a) on each, their outputs summed as an all-reduce would, (b) on the
  // sums, (c) on each rank's own tokens.
  const std::int64_t first[] = {0, 4}, last[] = {4, 6};
  std::vector<double> sums(12, 0.0), counts(3, 0.0), jsd(9), dsums(12), dlogits(probs.size(), 0.0);
  for (int rank = 0; rank < 2; ++rank) {
    const cpu::SequenceShape s{last[rank] - first[rank], 3, 4, 3};
    std::vector<double> rank_sums(12), rank_counts(3);
    cpu::edl_domain_sums(s, probs.data() + first[rank] * 12, batch.mask.data() + first[rank] * 3,
                         batch.domains.data() + first[rank], rank_sums.data(), rank_counts.data());
    for (std::size_t i = 0; i < 12; ++i) sums[i] += rank_sums[i];
    for (std::size_t i = 0; i < 3; ++i) counts[i] += rank_counts[i];
  }
  const double loss = cpu::edl_loss_from_sums(sums.data(), counts.data(), 3, 4, kEps, jsd.data(),
                                              static_cast<std::int32_t*>(nullptr), dsums.data());
  for (int rank = 0; rank < 2; ++rank) {
    const cpu::SequenceShape s{last[rank] - first[rank], 3, 4, 3};
    cpu::edl_backward(s, probs.data() + first[rank] * 12, batch.mask.data() + first[rank] * 3,
                      batch.domains.data() + first[rank], dsums.data(), 0.5, dlogits.data() + first[rank] * 12);
  }
  CHECK(loss == doctest::Approx(whole.loss).epsilon(1e-14));
  CHECK(max_rel_error(jsd, whole.jsd, 1e-3) < 1e-13);
  CHECK(max_rel_error(dlogits, whole_dlogits, 1e-3) < 1e-12);
}

TEST_CASE("EDL ops in f32 agree with the double kernels") {
  EdlBatch batch = random_batch(5, 8, 4, {3, 0, 1, 3, 2, 0, 1, 1}, 19);
  const EdlForward want = edl_forward(batch, kEps);
  const auto want_dlogits = edl_gradient(batch, kEps, 1.0);
  auto probs = to_float(softmax_rows(batch.logits, 8));
  std::vector<std::int32_t> domains = batch.domains;
  std::vector<float> sums(32), counts(4), jsd(16), dsums(32), dlogits(probs.size(), 0.0f);
  float loss = 0.0f;
  const ops::EdlBuffers buffers{make_view(sums.data(), DType::f32, Device::cpu, {4, 8}),
                                make_view(counts.data(), DType::f32, Device::cpu, {4}),
                                make_view(jsd.data(), DType::f32, Device::cpu, {4, 4}), Tensor{},
                                make_view(dsums.data(), DType::f32, Device::cpu, {4, 8}),
                                make_view(&loss, DType::f32, Device::cpu, {1})};
  ops::expert_divergence_loss(
      make_view(probs.data(), DType::f32, Device::cpu, {40, 8}), Tensor{},
      make_view(domains.data(), DType::i32, Device::cpu, {8}), 1e-6f, buffers, 1.0f,
      make_view(dlogits.data(), DType::f32, Device::cpu, {40, 8}));
  // f32 probabilities carry relative rounding of ~6e-8, which the JSDs (~1e-2 here) and the loss barely feel.
  CHECK(loss == doctest::Approx(want.loss).epsilon(1e-5));
  CHECK(max_rel_error(jsd, want.jsd, 1e-3) < 1e-4);
  CHECK(max_rel_error(dlogits, want_dlogits, 1e-3) < 1e-4);
}

TEST_CASE("EDL ops reject bad shapes, masks, domain ids, counts and eps with messages naming the argument") {
  std::vector<float> probs(6 * 4, 0.25f), sums(8), counts(2), jsd(4), dsums(8), dlogits(24);
  std::vector<std::int32_t> mask(6, 1), domains = {0, 1, 0};
  auto f32 = [](std::vector<float>& v, std::initializer_list<std::int64_t> shape) {
    return make_view(v.data(), DType::f32, Device::cpu, shape);
  };
  auto i32 = [](std::vector<std::int32_t>& v, std::initializer_list<std::int64_t> shape) {
    return make_view(v.data(), DType::i32, Device::cpu, shape);
  };
  const Tensor tprobs = f32(probs, {6, 4}), tdomains = i32(domains, {3});
  const Tensor tsums = f32(sums, {2, 4}), tcounts = f32(counts, {2});
  std::vector<float> loss(1);
  const Tensor tloss = f32(loss, {1});
  auto sums_error = [&](const Tensor& m, const Tensor& d) {
    return error_message([&] { ops::edl_domain_sums(tprobs, m, d, tsums, tcounts); });
  };
  CHECK(contains(sums_error(i32(mask, {2, 3}), tdomains), "edl_domain_sums: mask: dim 0 is 2, expected 3"));
  mask[3] = 2;
  CHECK(contains(sums_error(i32(mask, {3, 2}), tdomains), "mask[1][1] is 2, expected 0 or 1"));
  mask = {1, 1, 0, 0, 1, 0};
  CHECK(contains(sums_error(i32(mask, {3, 2}), tdomains), "mask: sequence 1 has no target-bearing token"));
  domains[2] = 2;
  CHECK(contains(sums_error(Tensor{}, tdomains), "domains[2] is 2, expected a domain id in [0, 2)"));
  domains[2] = 0;
  std::vector<std::int32_t> four = {0, 1, 0, 1};
  CHECK(contains(sums_error(Tensor{}, i32(four, {4})), "its 6 rows do not split into 4 sequences"));
  CHECK(contains(error_message([&] { ops::edl_domain_sums(tprobs, Tensor{}, tdomains, f32(sums, {2, 3}), tcounts); }),
                 "edl_domain_sums: sums: dim 1 is 3, expected 4"));
  counts = {1.0f, -1.0f};
  CHECK(contains(error_message([&] { ops::edl_loss_from_sums(tsums, tcounts, 1e-6f, f32(jsd, {2, 2}), {}, {}, tloss); }),
                 "counts[1] is -1"));
  counts = {1.0f, 1.0f};
  CHECK(contains(error_message([&] { ops::edl_loss_from_sums(tsums, tcounts, 0.0f, f32(jsd, {2, 2}), {}, {}, tloss); }),
                 "eps is 0"));
  CHECK(contains(error_message([&] { ops::edl_loss_from_sums(tsums, tcounts, 1e-6f, f32(jsd, {4}), {}, {}, tloss); }),
                 "edl_loss_from_sums: jsd: expected 2 dimensions"));
  CHECK(contains(error_message([&] { ops::edl_loss_from_sums(tsums, tcounts, 1e-6f, f32(jsd, {2, 2}), {}, {}, tsums); }),
                 "edl_loss_from_sums: loss:"));
  const Tensor wrong_dlogits = f32(dlogits, {4, 6});
  CHECK(contains(error_message([&] { ops::edl_backward(tprobs, Tensor{}, tdomains, tsums, 1.0f, wrong_dlogits); }),
                 "edl_backward: dlogits:"));
}
