// Tests of CUDA MoE dispatch/combine against the CPU reference on the same routes and bf16 inputs: the plan and the
// gathers to the bit, the sums within their rounding, the same bits on every run, and bad expert ids refused (or,
// where the router's choices are trusted, planned as the nearest expert without leaving the plan).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/device_memory.h"
#include "kernels/ops.h"
#include "tests/cuda_support.h"
#include "tests/gradcheck.h"

using namespace diverge;

namespace {

constexpr float kEps = 0x1p-23f;  // twice fp32's unit roundoff: the two sides' roundings together

struct Route {
  std::int64_t tokens;
  std::int64_t top_k;
  std::int64_t experts;
  std::int64_t dim;
  std::int64_t stride;  // tokens choose among experts 0, stride, 2 stride, ...: the others receive no tokens
};

// N = 1, k = 1, top_k = E, experts that receive nothing, N * k within one 1024-copy sort tile and over several,
// over 256 experts (two digit passes of the sort), widths that are not a multiple of 32.
constexpr Route kRoutes[] = {{1, 1, 1, 40, 1},   {1, 4, 4, 100, 1}, {37, 1, 8, 64, 2},  {300, 2, 16, 100, 3},
                             {700, 4, 8, 72, 2}, {513, 8, 8, 33, 1}, {50, 2, 300, 40, 7}};

// Each token's top_k distinct experts, in random order, drawn from the experts the route lets tokens choose.
std::vector<std::int32_t> random_topk(const Route& route, std::uint32_t seed) {
  std::vector<std::int32_t> choosable;
  for (std::int64_t e = 0; e < route.experts; e += route.stride) choosable.push_back(static_cast<std::int32_t>(e));
  REQUIRE(static_cast<std::int64_t>(choosable.size()) >= route.top_k);
  std::mt19937 rng(seed);
  std::vector<std::int32_t> topk;
  for (std::int64_t t = 0; t < route.tokens; ++t) {
    std::shuffle(choosable.begin(), choosable.end(), rng);
    topk.insert(topk.end(), choosable.begin(), choosable.begin() + route.top_k);
  }
  return topk;
}

// A routing plan with its storage: on the host, or in a device arena.
struct HostPlan {
  std::vector<std::int32_t> counts, offsets, row_of_copy, copy_of_row;
  ops::RoutePlan plan;
  HostPlan(std::int64_t tokens, std::int64_t top_k, std::int64_t experts)
      : counts(static_cast<std::size_t>(experts)),
        offsets(static_cast<std::size_t>(experts + 1)),
        row_of_copy(static_cast<std::size_t>(tokens * top_k)),
        copy_of_row(row_of_copy.size()),
        plan{make_view(counts.data(), DType::i32, Device::cpu, {experts}),
             make_view(offsets.data(), DType::i32, Device::cpu, {experts + 1}),
             make_view(row_of_copy.data(), DType::i32, Device::cpu, {tokens, top_k}),
             make_view(copy_of_row.data(), DType::i32, Device::cpu, {tokens * top_k})} {}
};

ops::RoutePlan device_plan(Arena& arena, std::int64_t tokens, std::int64_t top_k, std::int64_t experts) {
  return {arena.alloc(DType::i32, {experts}), arena.alloc(DType::i32, {experts + 1}),
          arena.alloc(DType::i32, {tokens, top_k}), arena.alloc(DType::i32, {tokens * top_k})};
}

std::size_t plan_bytes(std::int64_t tokens, std::int64_t top_k, std::int64_t experts) {
  return static_cast<std::size_t>(2 * experts + 1 + 2 * tokens * top_k) * sizeof(std::int32_t) +
         4 * Arena::kAlignment;
}

}  // namespace

TEST_CASE("cuda dispatch: the plan is the CPU's, gathers are exact, sums within their rounding" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  for (const Route& route : kRoutes) {
    const auto [tokens, top_k, experts, dim, stride] = route;
    CAPTURE(tokens);
    CAPTURE(top_k);
    CAPTURE(experts);
    CAPTURE(dim);
    const std::int64_t copies = tokens * top_k;
    const auto n = static_cast<std::size_t>(tokens * dim), r = static_cast<std::size_t>(copies * dim),
               d = static_cast<std::size_t>(dim);
    auto topk = random_topk(route, static_cast<std::uint32_t>(tokens + experts));
    auto x = test::rounded_to_bf16(test::normal_values(n, 1, 1.0f));
    auto dgrouped = test::rounded_to_bf16(test::normal_values(r, 2, 1.0f));
    auto expert_out = test::rounded_to_bf16(test::normal_values(r, 3, 1.0f));
    auto dout = test::rounded_to_bf16(test::normal_values(n, 4, 1.0f));
    auto gates = test::normal_values(static_cast<std::size_t>(copies), 5, 0.5f);
    std::vector<float> grouped(r), dx(n), out(n), dexpert_out(r), dgates(gates.size());

    HostPlan host(tokens, top_k, experts);
    ops::route_plan(make_view(topk.data(), DType::i32, Device::cpu, {tokens, top_k}), host.plan);
    ops::dispatch(test::host_tensor(x, {tokens, dim}), host.plan, test::host_tensor(grouped, {copies, dim}));
    ops::dispatch_backward(test::host_tensor(dgrouped, {copies, dim}), host.plan, test::host_tensor(dx, {tokens, dim}));
    ops::combine(test::host_tensor(expert_out, {copies, dim}), test::host_tensor(gates, {tokens, top_k}), host.plan,
                 test::host_tensor(out, {tokens, dim}));
    ops::combine_backward(test::host_tensor(dout, {tokens, dim}), test::host_tensor(expert_out, {copies, dim}),
                          test::host_tensor(gates, {tokens, top_k}), host.plan,
                          test::host_tensor(dexpert_out, {copies, dim}), test::host_tensor(dgates, {tokens, top_k}));

    Arena arena = test::device_arena(plan_bytes(tokens, top_k, experts) + 2 * (4 * r + 4 * n + copies) * 4 +
                                     16 * Arena::kAlignment);
    const ops::RoutePlan plan = device_plan(arena, tokens, top_k, experts);
    const Tensor d_topk = test::to_device_i32(arena, topk, {tokens, top_k}),
                 d_x = test::to_device_bf16(arena, x, {tokens, dim}),
                 d_dgrouped = test::to_device_bf16(arena, dgrouped, {copies, dim}),
                 d_expert_out = test::to_device_bf16(arena, expert_out, {copies, dim}),
                 d_dout = test::to_device_bf16(arena, dout, {tokens, dim}),
                 d_gates = test::to_device(arena, gates, {tokens, top_k}),
                 d_grouped = arena.alloc(DType::bf16, {copies, dim}), d_dx = arena.alloc(DType::bf16, {tokens, dim}),
                 d_out = arena.alloc(DType::bf16, {tokens, dim}),
                 d_dexpert_out = arena.alloc(DType::bf16, {copies, dim}),
                 d_dgates = arena.alloc(DType::f32, {tokens, top_k});
    ops::route_plan(d_topk, plan);
    CHECK(test::i32_to_host(plan.counts) == host.counts);
    CHECK(test::i32_to_host(plan.offsets) == host.offsets);
    CHECK(test::i32_to_host(plan.row_of_copy) == host.row_of_copy);
    CHECK(test::i32_to_host(plan.copy_of_row) == host.copy_of_row);

    ops::dispatch(d_x, plan, d_grouped);
    ops::dispatch_backward(d_dgrouped, plan, d_dx);
    ops::combine(d_expert_out, d_gates, plan, d_out);
    ops::combine_backward(d_dout, d_expert_out, d_gates, plan, d_dexpert_out, d_dgates);

    // Copies of bf16 values are exact. dx adds the same fp32 values in the same j order as the CPU, and each
    // dexpert_out value is one fp32 product on both sides, so both are the CPU's result after the one rounding to
    // bf16 that every bf16 output takes.
    CHECK(test::bf16_to_host(d_grouped) == grouped);
    CHECK(test::bf16_to_host(d_dx) == test::rounded_to_bf16(dx));
    CHECK(test::bf16_to_host(d_dexpert_out) == test::rounded_to_bf16(dexpert_out));

    // combine: each side's fp32 sum of k products (fp32 gate by bf16 value) is within (k + 1) u of the magnitudes M
    // of its terms of the exact value (u = 2^-24; a fused multiply-add rounds less, not more), so the two differ by
    // at most D = (k + 1) 2^-23 M; rounding the CUDA value to bf16 moves it by at most 2^-8 (|cpu| + D).
    // dgates: products of two bf16 values are exact in fp32; the dim - 1 additions in either order stay within
    // (dim - 1) u M of the exact dot product on each side, and dgates is fp32, never rounded to bf16.
    const auto got_out = test::bf16_to_host(d_out), got_dgates = test::to_host(d_dgates);
    int outside = 0;
    for (std::int64_t t = 0; t < tokens; ++t) {
      for (std::size_t c = 0; c < d; ++c) {
        double magnitude = 0.0;
        for (std::int64_t j = 0; j < top_k; ++j) {
          const auto copy = static_cast<std::size_t>(t * top_k + j);
          magnitude += std::fabs(gates[copy] * expert_out[static_cast<std::size_t>(host.row_of_copy[copy]) * d + c]);
        }
        const std::size_t i = static_cast<std::size_t>(t) * d + c;
        const float order = static_cast<float>(top_k + 1) * kEps * static_cast<float>(magnitude);
        outside += std::fabs(got_out[i] - out[i]) <= test::kBf16Rounding * std::fabs(out[i]) + 2 * order ? 0 : 1;
      }
      for (std::int64_t j = 0; j < top_k; ++j) {
        const auto copy = static_cast<std::size_t>(t * top_k + j);
        const std::size_t row = static_cast<std::size_t>(host.row_of_copy[copy]) * d;
        double magnitude = 0.0;
        for (std::size_t c = 0; c < d; ++c)
          magnitude += std::fabs(dout[static_cast<std::size_t>(t) * d + c] * expert_out[row + c]);
        outside += std::fabs(got_dgates[copy] - dgates[copy]) <= static_cast<float>(dim) * kEps * magnitude ? 0 : 1;
      }
    }
    CHECK(outside == 0);
  }
}

TEST_CASE("cuda dispatch: with accumulate, combine and dispatch_backward start from the output, as on the CPU" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const Route route{300, 2, 16, 100, 3};
  const auto [tokens, top_k, experts, dim, stride] = route;
  const std::int64_t copies = tokens * top_k;
  const auto n = static_cast<std::size_t>(tokens * dim), r = static_cast<std::size_t>(copies * dim);
  auto rows = test::rounded_to_bf16(test::normal_values(r, 11, 1.0f));
  const auto old = test::rounded_to_bf16(test::normal_values(n, 12, 1.0f));
  // Gates that are powers of two make every product exact in fp32, so a fused multiply-add rounds as the CPU's
  // multiply then add: both sides then add the same fp32 values in the same order, rounding the one sum to bf16.
  std::vector<float> gates(static_cast<std::size_t>(copies));
  for (std::size_t c = 0; c < gates.size(); ++c) gates[c] = std::ldexp(1.0f, -static_cast<int>(c % 4));
  auto topk = random_topk(route, 13);
  HostPlan host(tokens, top_k, experts);
  ops::route_plan(make_view(topk.data(), DType::i32, Device::cpu, {tokens, top_k}), host.plan);
  std::vector<float> combined = old, summed = old;
  ops::combine(test::host_tensor(rows, {copies, dim}), test::host_tensor(gates, {tokens, top_k}), host.plan,
               test::host_tensor(combined, {tokens, dim}), ops::Write::accumulate);
  ops::dispatch_backward(test::host_tensor(rows, {copies, dim}), host.plan, test::host_tensor(summed, {tokens, dim}),
                         ops::Write::accumulate);

  Arena arena = test::device_arena(plan_bytes(tokens, top_k, experts) + (2 * r + 6 * n + copies) * 4 +
                                   16 * Arena::kAlignment);
  const ops::RoutePlan plan = device_plan(arena, tokens, top_k, experts);
  ops::route_plan(test::to_device_i32(arena, topk, {tokens, top_k}), plan);
  const Tensor d_rows = test::to_device_bf16(arena, rows, {copies, dim}),
               d_gates = test::to_device(arena, gates, {tokens, top_k}),
               d_combined = test::to_device_bf16(arena, old, {tokens, dim}),
               d_summed = test::to_device_bf16(arena, old, {tokens, dim});
  ops::combine(d_rows, d_gates, plan, d_combined, ops::Write::accumulate);
  ops::dispatch_backward(d_rows, plan, d_summed, ops::Write::accumulate);
  CHECK(test::bf16_to_host(d_combined) == test::rounded_to_bf16(combined));
  CHECK(test::bf16_to_host(d_summed) == test::rounded_to_bf16(summed));
}

TEST_CASE("cuda dispatch: the plan and every sum are the same bits on every run" * doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const Route route{700, 4, 8, 72, 2};
  const auto [tokens, top_k, experts, dim, stride] = route;
  const std::int64_t copies = tokens * top_k;
  const auto n = static_cast<std::size_t>(tokens * dim), r = static_cast<std::size_t>(copies * dim);
  Arena arena = test::device_arena(plan_bytes(tokens, top_k, experts) + (4 * r + 4 * n + 2 * copies) * 4 +
                                   16 * Arena::kAlignment);
  const ops::RoutePlan plan = device_plan(arena, tokens, top_k, experts);
  const Tensor topk = test::to_device_i32(arena, random_topk(route, 9), {tokens, top_k}),
               expert_out = test::to_device_bf16(arena, test::normal_values(r, 6, 1.0f), {copies, dim}),
               dout = test::to_device_bf16(arena, test::normal_values(n, 7, 1.0f), {tokens, dim}),
               gates = test::to_device(arena, test::normal_values(static_cast<std::size_t>(copies), 8, 0.5f),
                                       {tokens, top_k}),
               out = arena.alloc(DType::bf16, {tokens, dim}), dx = arena.alloc(DType::bf16, {tokens, dim}),
               dexpert_out = arena.alloc(DType::bf16, {copies, dim}), dgates = arena.alloc(DType::f32, {tokens, top_k});
  std::vector<std::vector<float>> runs[4];
  std::vector<std::int32_t> rows[2];
  for (int run = 0; run < 2; ++run) {
    ops::route_plan(topk, plan);
    ops::combine(expert_out, gates, plan, out);
    ops::dispatch_backward(expert_out, plan, dx);
    ops::combine_backward(dout, expert_out, gates, plan, dexpert_out, dgates);
    rows[run] = test::i32_to_host(plan.row_of_copy);
    runs[0].push_back(test::bf16_to_host(out));
    runs[1].push_back(test::bf16_to_host(dx));
    runs[2].push_back(test::bf16_to_host(dexpert_out));
    runs[3].push_back(test::to_host(dgates));
  }
  CHECK(rows[0] == rows[1]);
  for (const auto& pair : runs) CHECK(pair[0] == pair[1]);
}

TEST_CASE("cuda dispatch: an expert id outside [0, E) is refused as on the CPU, the plan untouched" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  const std::int64_t tokens = 600, top_k = 2, experts = 4;
  auto topk = random_topk({tokens, top_k, experts, 1, 1}, 3);
  topk[1001] = -1;  // the first bad copy, past the first sort tile; the later one must not be the one named
  topk[1100] = 4;
  HostPlan host(tokens, top_k, experts);
  const Tensor cpu_topk = make_view(topk.data(), DType::i32, Device::cpu, {tokens, top_k});
  const std::string cpu_error = test::error_message([&] { ops::route_plan(cpu_topk, host.plan); });
  CHECK(cpu_error == "route_plan: expert -1 at position 1001 is outside [0, 4)");

  Arena arena = test::device_arena(plan_bytes(tokens, top_k, experts) + topk.size() * 4 + 4 * Arena::kAlignment);
  const ops::RoutePlan plan = device_plan(arena, tokens, top_k, experts);
  std::vector<std::int32_t> marked(static_cast<std::size_t>(tokens * top_k), 7);
  copy_tensor(make_view(marked.data(), DType::i32, Device::cpu, {tokens * top_k}), plan.copy_of_row);
  const Tensor d_topk = test::to_device_i32(arena, topk, {tokens, top_k});
  CHECK(test::error_message([&] { ops::route_plan(d_topk, plan); }) == cpu_error);
  const auto untouched = test::i32_to_host(plan.copy_of_row);
  CHECK(std::all_of(untouched.begin(), untouched.end(), [](std::int32_t v) { return v == 7; }));
}

TEST_CASE("cuda dispatch: a plan of trusted router choices is the checked plan; one out of range plans as the "
          "nearest expert, inside the plan" *
          doctest::test_suite("cuda")) {
  if (!test::cuda_available()) return;
  // 600 x 2 copies: past the first sort tile. 300 experts: the sort's two digit passes.
  for (const std::int64_t experts : {4, 300}) {
    CAPTURE(experts);
    const std::int64_t tokens = 600, top_k = 2;
    auto topk = random_topk({tokens, top_k, experts, 1, 1}, 5);
    Arena arena = test::device_arena(2 * plan_bytes(tokens, top_k, experts) + topk.size() * 4 +
                                     8 * Arena::kAlignment);
    const ops::RoutePlan checked = device_plan(arena, tokens, top_k, experts),
                         trusted = device_plan(arena, tokens, top_k, experts);
    const Tensor d_topk = test::to_device_i32(arena, topk, {tokens, top_k});
    ops::route_plan(d_topk, checked);
    ops::route_plan(d_topk, trusted, ops::RouteCheck::trust_router);
    for (const auto member : {&ops::RoutePlan::counts, &ops::RoutePlan::offsets, &ops::RoutePlan::row_of_copy,
                              &ops::RoutePlan::copy_of_row})
      CHECK(test::i32_to_host(trusted.*member) == test::i32_to_host(checked.*member));

    topk[3] = -1;
    topk[1001] = static_cast<std::int32_t>(experts);
    topk[1100] = 1 << 30;
    copy_tensor(make_view(topk.data(), DType::i32, Device::cpu, {tokens, top_k}), d_topk);
    ops::route_plan(d_topk, trusted, ops::RouteCheck::trust_router);
    std::vector<std::int32_t> nearest = topk;
    for (std::int32_t& e : nearest) e = std::clamp(e, 0, static_cast<std::int32_t>(experts - 1));
    HostPlan host(tokens, top_k, experts);
    ops::route_plan(make_view(nearest.data(), DType::i32, Device::cpu, {tokens, top_k}), host.plan);
    CHECK(test::i32_to_host(trusted.offsets) == host.offsets);
    CHECK(test::i32_to_host(trusted.counts) == host.counts);
    CHECK(test::i32_to_host(trusted.copy_of_row) == host.copy_of_row);
    CHECK(test::i32_to_host(trusted.row_of_copy) == host.row_of_copy);
  }
}
