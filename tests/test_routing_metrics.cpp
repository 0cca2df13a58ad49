// Tests for the routing metrics: the divergence decomposition against its definitions on random batches, a hand-made
// window (divergences, JSD, load, specialisation), window accumulation, and argument errors.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/ops.h"
#include "tests/edl_support.h"
#include "tests/gradcheck.h"

using namespace diverge;
using namespace diverge::test;

namespace {

double kl(const std::vector<double>& p, const std::vector<double>& q) {
  double sum = 0.0;
  for (std::size_t e = 0; e < p.size(); ++e)
    if (p[e] > 0.0) sum += p[e] * std::log(p[e] / q[e]);
  return sum;
}

std::vector<double> mean_of(const std::vector<std::vector<double>>& rows) {
  std::vector<double> mean(rows.front().size(), 0.0);
  for (const auto& row : rows)
    for (std::size_t e = 0; e < row.size(); ++e) mean[e] += row[e] / static_cast<double>(rows.size());
  return mean;
}

// The three divergences straight from their definitions over explicit sequence means q_s.
struct Divergences {
  double total, inter, intra;
};
Divergences by_definition(const std::vector<std::vector<double>>& q, const std::vector<std::int32_t>& domains,
                          std::int32_t labels) {
  const std::vector<double> mean = mean_of(q);
  Divergences d{0.0, 0.0, 0.0};
  for (const auto& qs : q) d.total += kl(qs, mean) / static_cast<double>(q.size());
  for (std::int32_t j = 0; j < labels; ++j) {
    std::vector<std::vector<double>> members;
    for (std::size_t s = 0; s < q.size(); ++s)
      if (domains[s] == j) members.push_back(q[s]);
    if (members.empty()) continue;
    const double w = static_cast<double>(members.size()) / static_cast<double>(q.size());
    const std::vector<double> r = mean_of(members);
    d.inter += w * kl(r, mean);
    for (const auto& qs : members) d.intra += w * kl(qs, r) / static_cast<double>(members.size());
  }
  return d;
}

Tensor f32_view(std::vector<float>& v, std::initializer_list<std::int64_t> shape) {
  return make_view(v.data(), DType::f32, Device::cpu, shape);
}
Tensor i32_view(std::vector<std::int32_t>& v, std::initializer_list<std::int64_t> shape) {
  return make_view(v.data(), DType::i32, Device::cpu, shape);
}

}  // namespace

TEST_CASE("D_total = D_inter + D_intra, each equal to its definition, on random batches") {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    CAPTURE(seed);
    const std::int64_t sequences = 7, tokens = 5, experts = 6;
    const auto labels = static_cast<std::int32_t>(2 + seed % 3);
    const auto logits = random_values(sequences * tokens * experts, seed, -3.0, 3.0);
    std::vector<float> probs = to_float(softmax_rows(logits, experts));
    std::vector<std::int32_t> domains(sequences), mask(sequences * tokens);
    const auto coin = random_values(domains.size() + mask.size(), seed + 100, 0.0, 1.0);
    for (std::size_t s = 0; s < domains.size(); ++s) domains[s] = static_cast<std::int32_t>(coin[s] * labels);
    for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = (i % tokens == 0 || coin[domains.size() + i] < 0.7) ? 1 : 0;

    ops::RoutingSums sums(labels, experts);
    ops::routing_sums_add(f32_view(probs, {sequences * tokens, experts}), i32_view(mask, {sequences, tokens}),
                          i32_view(domains, {sequences}), Tensor{}, sums);
    const ops::RoutingMetrics m = ops::routing_metrics(sums);
    CHECK(std::abs(m.d_total - (m.d_inter + m.d_intra)) < 1e-6);

    std::vector<std::vector<double>> q(sequences, std::vector<double>(experts, 0.0));
    for (std::int64_t s = 0; s < sequences; ++s) {
      double count = 0.0;
      for (std::int64_t t = 0; t < tokens; ++t) count += mask[s * tokens + t];
      for (std::int64_t t = 0; t < tokens; ++t)
        for (std::int64_t e = 0; e < experts; ++e)
          q[s][e] += mask[s * tokens + t] * static_cast<double>(probs[(s * tokens + t) * experts + e]) / count;
    }
    const Divergences want = by_definition(q, domains, labels);
    CHECK(m.d_total == doctest::Approx(want.total).epsilon(1e-9));
    CHECK(m.d_inter == doctest::Approx(want.inter).epsilon(1e-9));
    CHECK(m.d_intra == doctest::Approx(want.intra).epsilon(1e-9));
  }
}

TEST_CASE("routing metrics of a hand-made window: divergences, JSD, load and specialisation") {
  // Sequences of two identical tokens, so q_s is the token's distribution. Domain 0: A = (1/2, 1/2, 0, 0) and
  // B = (1/2, 0, 1/2, 0); domain 1: C = (0, 0, 1/2, 1/2). Top-1 choices: domain 0 -> experts 0, 0, 0, 1;
  // domain 1 -> 1, 2.
  std::vector<float> probs = {0.5f, 0.5f, 0, 0, 0.5f, 0.5f, 0, 0,  //
                              0.5f, 0, 0.5f, 0, 0.5f, 0, 0.5f, 0,  //
                              0, 0, 0.5f, 0.5f, 0, 0, 0.5f, 0.5f};
  std::vector<std::int32_t> domains = {0, 0, 1}, topk = {0, 0, 0, 1, 1, 2};
  ops::RoutingSums sums(2, 4);
  ops::routing_sums_add(f32_view(probs, {6, 4}), Tensor{}, i32_view(domains, {3}), i32_view(topk, {6, 1}), sums);
  const ops::RoutingMetrics m = ops::routing_metrics(sums);

  // q = (1/3, 1/6, 1/3, 1/6), r_0 = (1/2, 1/4, 1/4, 0), r_1 = C; KL(A || r_0) = KL(B || r_0) = ln 2 / 2.
  CHECK(m.d_intra == doctest::Approx(std::log(2.0) / 3.0).epsilon(1e-12));
  const double kl_r0 = 0.75 * std::log(1.5) + 0.25 * std::log(0.75), kl_r1 = 0.5 * std::log(1.5) + 0.5 * std::log(3.0);
  CHECK(m.d_inter == doctest::Approx(2.0 / 3.0 * kl_r0 + 1.0 / 3.0 * kl_r1).epsilon(1e-12));
  CHECK(m.d_total == doctest::Approx(m.d_inter + m.d_intra).epsilon(1e-12));
  // m = (1/4, 1/8, 3/8, 1/4): JSD = 1/2 KL(r_0 || m) + 1/2 KL(r_1 || m).
  const double jsd = 0.5 * (0.5 * std::log(2.0) + 0.25 * std::log(2.0) + 0.25 * std::log(2.0 / 3.0)) +
                     0.5 * (0.5 * std::log(4.0 / 3.0) + 0.5 * std::log(2.0));
  CHECK(m.jsd[1] == doctest::Approx(jsd).epsilon(1e-12));
  CHECK(m.jsd[2] == m.jsd[1]);
  CHECK(m.jsd[0] == 0.0);
  CHECK(m.jsd_mean == doctest::Approx(jsd).epsilon(1e-12));
  CHECK(m.present == std::vector<std::int32_t>{1, 1});

  // Load (3, 2, 1, 0) of 6: mean 1.5, population variance 1.25.
  CHECK(m.load_share[0] == doctest::Approx(0.5));
  CHECK(m.load_share[1] == doctest::Approx(1.0 / 3.0));
  CHECK(m.load_share[3] == 0.0);
  CHECK(m.load_cv == doctest::Approx(std::sqrt(1.25) / 1.5).epsilon(1e-12));
  CHECK(m.load_max_over_mean == doctest::Approx(2.0).epsilon(1e-12));
  CHECK(m.dead_experts == 1);
  // Token volumes 4 and 2: expert 1 gets 1/4 of domain 0 and 1/2 of domain 1 -> (1/3, 2/3).
  CHECK(m.domain_share[0] == doctest::Approx(1.0));
  CHECK(m.domain_share[2] == doctest::Approx(1.0 / 3.0));
  CHECK(m.domain_share[3] == doctest::Approx(2.0 / 3.0));
  CHECK(m.domain_share[5] == doctest::Approx(1.0));
  CHECK(m.domain_share[6] == 0.0);
  CHECK(m.domain_share[7] == 0.0);
  CHECK(m.specialised_fraction == doctest::Approx(0.75));
}

TEST_CASE("routing sums accumulate over micro-batches and ranks as one batch would") {
  const std::int64_t tokens = 3, experts = 4;
  std::vector<float> probs = to_float(softmax_rows(random_values(6 * tokens * experts, 31, -2.0, 2.0), experts));
  std::vector<std::int32_t> domains = {0, 2, 1, 2, 0, 0}, topk(6 * tokens * 2);
  for (std::size_t i = 0; i < topk.size(); ++i) topk[i] = static_cast<std::int32_t>((i * 7 + i / 5) % experts);
  const Tensor tprobs = f32_view(probs, {6 * tokens, experts}), tdomains = i32_view(domains, {6});
  const Tensor ttopk = i32_view(topk, {6 * tokens, 2});

  ops::RoutingSums whole(3, experts), window(3, experts), first(3, experts), second(3, experts);
  ops::routing_sums_add(tprobs, Tensor{}, tdomains, ttopk, whole);
  ops::routing_sums_add(tprobs.slice_rows(0, 2 * tokens), Tensor{}, tdomains.slice_rows(0, 2),
                        ttopk.slice_rows(0, 2 * tokens), window);
  ops::routing_sums_add(tprobs.slice_rows(2 * tokens, 6 * tokens), Tensor{}, tdomains.slice_rows(2, 6),
                        ttopk.slice_rows(2 * tokens, 6 * tokens), window);
  ops::routing_sums_add(tprobs.slice_rows(0, 3 * tokens), Tensor{}, tdomains.slice_rows(0, 3),
                        ttopk.slice_rows(0, 3 * tokens), first);
  ops::routing_sums_add(tprobs.slice_rows(3 * tokens, 6 * tokens), Tensor{}, tdomains.slice_rows(3, 6),
                        ttopk.slice_rows(3 * tokens, 6 * tokens), second);
  first.add(second);
  // The same two micro-batches into a window tensor, the training loop's form, read back once.
  std::vector<double> stored(static_cast<std::size_t>(ops::routing_window_size(3, experts)), 0.0);
  const Tensor twindow = make_view(stored.data(), DType::f64, Device::cpu, {std::ssize(stored)});
  ops::routing_window_add(tprobs.slice_rows(0, 2 * tokens), Tensor{}, tdomains.slice_rows(0, 2),
                          ttopk.slice_rows(0, 2 * tokens), twindow, 3);
  ops::routing_window_add(tprobs.slice_rows(2 * tokens, 6 * tokens), Tensor{}, tdomains.slice_rows(2, 6),
                          ttopk.slice_rows(2 * tokens, 6 * tokens), twindow, 3);
  ops::RoutingSums read = ops::routing_window_read(twindow, 3, experts);
  for (const ops::RoutingSums* other : {&window, &first, &read}) {
    CHECK(max_rel_error(other->q_sum, whole.q_sum, 1.0) < 1e-15);
    CHECK(max_rel_error(other->q_log_q, whole.q_log_q, 1.0) < 1e-15);
    CHECK(other->sequences == whole.sequences);
    CHECK(other->tokens == whole.tokens);
    CHECK(other->assignments == whole.assignments);
  }
  const ops::RoutingMetrics a = ops::routing_metrics(whole), b = ops::routing_metrics(first);
  CHECK(a.d_total == doctest::Approx(b.d_total).epsilon(1e-12));
  CHECK(a.load_cv == doctest::Approx(b.load_cv).epsilon(1e-12));
  // A window written from sums (a checkpoint's) reads back as those sums, bit for bit.
  std::vector<double> restored(stored.size(), 7.0);
  const Tensor trestored = make_view(restored.data(), DType::f64, Device::cpu, {std::ssize(restored)});
  ops::routing_window_write(whole, trestored);
  const ops::RoutingSums again = ops::routing_window_read(trestored, 3, experts);
  CHECK(again.q_sum == whole.q_sum);
  CHECK(again.q_log_q == whole.q_log_q);
  CHECK(again.assignments == whole.assignments);
  CHECK(contains(error_message([&] { ops::routing_window_read(trestored, 2, experts); }),
                 "routing_window_read: window: dim 0"));
}

TEST_CASE("routing metrics of an empty window or a window without top-k choices are zeros, not NaN") {
  const ops::RoutingMetrics empty = ops::routing_metrics(ops::RoutingSums(3, 4));
  CHECK(empty.d_total == 0.0);
  CHECK(empty.jsd_mean == 0.0);
  CHECK(empty.load_cv == 0.0);
  CHECK(empty.specialised_fraction == 0.0);
  std::vector<float> probs(8, 0.25f);
  std::vector<std::int32_t> domains = {1, 1};
  ops::RoutingSums sums(3, 4);
  ops::routing_sums_add(f32_view(probs, {2, 4}), Tensor{}, i32_view(domains, {2}), Tensor{}, sums);
  const ops::RoutingMetrics m = ops::routing_metrics(sums);
  CHECK(m.d_total == doctest::Approx(0.0));
  CHECK(m.present == std::vector<std::int32_t>{0, 1, 0});
  CHECK(m.load_share == std::vector<double>(4, 0.0));
  CHECK(m.dead_experts == 0);
}

TEST_CASE("routing metrics reject bad expert ids, domain ids and mismatched sums, leaving the window untouched") {
  std::vector<float> probs(8, 0.25f);
  std::vector<std::int32_t> domains = {0, 1}, topk = {0, 4};
  ops::RoutingSums sums(2, 4);
  CHECK(contains(error_message([&] {
                   ops::routing_sums_add(f32_view(probs, {2, 4}), Tensor{}, i32_view(domains, {2}),
                                         i32_view(topk, {2, 1}), sums);
                 }),
                 "routing_sums_add: topk of token 1 is 4, expected an expert in [0, 4)"));
  CHECK(sums.sequences == std::vector<double>{0.0, 0.0});
  domains[1] = 3;
  CHECK(contains(error_message([&] {
                   ops::routing_sums_add(f32_view(probs, {2, 4}), Tensor{}, i32_view(domains, {2}), Tensor{}, sums);
                 }),
                 "domains[1] is 3, expected a domain id in [0, 2)"));
  ops::RoutingSums other(2, 5);
  CHECK(contains(error_message([&] { sums.add(other); }), "RoutingSums::add"));
  CHECK(contains(error_message([&] { ops::RoutingSums bad(0, 4); }), "needs labels > 0"));
}
