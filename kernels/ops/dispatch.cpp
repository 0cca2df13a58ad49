// dispatch/combine ops: check the routing plan against the token and row tensors, then dispatch the permutations.
#include <string>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cuda/dispatch.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

struct PlanExtents {
  std::int64_t tokens;
  std::int64_t top_k;
};

// Checks the plan's own shapes and returns its extents.
PlanExtents checked_plan(const char* op, const RoutePlan& plan) {
  check_arg(op, {"plan.counts", plan.counts}, DType::i32, 1);
  check_arg(op, {"plan.offsets", plan.offsets}, DType::i32, 1);
  check_extent(op, {"plan.offsets", plan.offsets}, 0, plan.counts.dim(0) + 1, "E + 1");
  check_arg(op, {"plan.row_of_copy", plan.row_of_copy}, DType::i32, 2);
  check_arg(op, {"plan.copy_of_row", plan.copy_of_row}, DType::i32, 1);
  check_extent(op, {"plan.copy_of_row", plan.copy_of_row}, 0, plan.row_of_copy.numel(), "N * k");
  return {plan.row_of_copy.dim(0), plan.row_of_copy.dim(1)};
}

cpu::RoutePlanView host_view(const RoutePlan& plan) {
  return {plan.row_of_copy.i32(), plan.copy_of_row.i32(), plan.row_of_copy.dim(0), plan.row_of_copy.dim(1)};
}

// Checks a per-token tensor (N, C) and a grouped one (N * k, C) of one width: activations of the device.
void check_rows(const char* op, Device device, const PlanExtents& plan, Arg tokens, Arg grouped) {
  check_arg(op, tokens, activation_dtype(device), 2);
  check_extent(op, tokens, 0, plan.tokens, "N, the tokens of the plan");
  check_arg(op, grouped, activation_dtype(device), 2);
  check_extent(op, grouped, 0, plan.tokens * plan.top_k, "N * k, the rows of the plan");
  check_extent(op, grouped, 1, tokens.tensor.dim(1), "C, the width of the token rows");
}

// Gates keep the router's precision: fp32 on every device.
void check_gates(const char* op, const PlanExtents& plan, Arg gates) {
  check_arg(op, gates, DType::f32, 2);
  check_extent(op, gates, 0, plan.tokens, "N, the tokens of the plan");
  check_extent(op, gates, 1, plan.top_k, "k, the copies per token");
}

}  // namespace

void route_plan(const Tensor& topk, const RoutePlan& plan, RouteCheck check) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "route_plan";
  checked_plan(kOp, plan);
  check_arg(kOp, {"topk", topk}, DType::i32, 2);
  check_like(kOp, {"plan.row_of_copy", plan.row_of_copy}, {"topk", topk});
  switch (common_device(kOp, {{"topk", topk},
                              {"plan.counts", plan.counts},
                              {"plan.offsets", plan.offsets},
                              {"plan.row_of_copy", plan.row_of_copy},
                              {"plan.copy_of_row", plan.copy_of_row}})) {
    case Device::cpu:
      return cpu::route_plan(topk.i32(), topk.dim(0), topk.dim(1), plan.counts.dim(0), plan.counts.i32(),
                             plan.offsets.i32(), plan.row_of_copy.i32(), plan.copy_of_row.i32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::route_plan(data_of<std::int32_t>(topk), topk.dim(0), topk.dim(1), plan.counts.dim(0),
                                            data_of<std::int32_t>(plan.counts), data_of<std::int32_t>(plan.offsets),
                                            data_of<std::int32_t>(plan.row_of_copy),
                                            data_of<std::int32_t>(plan.copy_of_row),
                                            check == RouteCheck::read_back));
  }
}

void dispatch(const Tensor& x, const RoutePlan& plan, const Tensor& grouped) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "dispatch";
  const Device device = common_device(kOp, {{"x", x}, {"grouped", grouped}, {"plan.copy_of_row", plan.copy_of_row}});
  const PlanExtents extents = checked_plan(kOp, plan);
  check_rows(kOp, device, extents, {"x", x}, {"grouped", grouped});
  switch (device) {
    case Device::cpu: return cpu::dispatch_forward(host_view(plan), x.f32(), x.dim(1), grouped.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::dispatch_forward(data_of<std::int32_t>(plan.copy_of_row), extents.tokens,
                                                  extents.top_k, data_of<cuda::bf16_bits>(x), x.dim(1),
                                                  data_of<cuda::bf16_bits>(grouped)));
  }
}

void dispatch_backward(const Tensor& dgrouped, const RoutePlan& plan, const Tensor& dx, Write write) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "dispatch_backward";
  const Device device =
      common_device(kOp, {{"dgrouped", dgrouped}, {"dx", dx}, {"plan.row_of_copy", plan.row_of_copy}});
  const PlanExtents extents = checked_plan(kOp, plan);
  check_rows(kOp, device, extents, {"dx", dx}, {"dgrouped", dgrouped});
  switch (device) {
    case Device::cpu:
      return cpu::dispatch_backward(host_view(plan), dgrouped.f32(), dx.dim(1), dx.f32(), write == Write::accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::dispatch_backward(data_of<std::int32_t>(plan.row_of_copy), extents.tokens,
                                                   extents.top_k, data_of<cuda::bf16_bits>(dgrouped), dx.dim(1),
                                                   data_of<cuda::bf16_bits>(dx), write == Write::accumulate));
  }
}

void combine(const Tensor& expert_out, const Tensor& gates, const RoutePlan& plan, const Tensor& out, Write write) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "combine";
  const Device device = common_device(
      kOp, {{"expert_out", expert_out}, {"gates", gates}, {"out", out}, {"plan.row_of_copy", plan.row_of_copy}});
  const PlanExtents extents = checked_plan(kOp, plan);
  check_rows(kOp, device, extents, {"out", out}, {"expert_out", expert_out});
  check_gates(kOp, extents, {"gates", gates});
  switch (device) {
    case Device::cpu:
      return cpu::combine_forward(host_view(plan), expert_out.f32(), gates.f32(), out.dim(1), out.f32(),
                                  write == Write::accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::combine_forward(data_of<std::int32_t>(plan.row_of_copy), extents.tokens,
                                                 extents.top_k, data_of<cuda::bf16_bits>(expert_out),
                                                 data_of<float>(gates), out.dim(1), data_of<cuda::bf16_bits>(out),
                                                 write == Write::accumulate));
  }
}

void combine_backward(const Tensor& dout, const Tensor& expert_out, const Tensor& gates, const RoutePlan& plan,
                      const Tensor& dexpert_out, const Tensor& dgates) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "combine_backward";
  const Device device = common_device(kOp, {{"dout", dout},
                                             {"expert_out", expert_out},
                                             {"gates", gates},
                                             {"dexpert_out", dexpert_out},
                                             {"dgates", dgates},
                                             {"plan.row_of_copy", plan.row_of_copy}});
  const PlanExtents extents = checked_plan(kOp, plan);
  check_rows(kOp, device, extents, {"dout", dout}, {"expert_out", expert_out});
  check_gates(kOp, extents, {"gates", gates});
  check_like(kOp, {"dexpert_out", dexpert_out}, {"expert_out", expert_out});
  check_like(kOp, {"dgates", dgates}, {"gates", gates});
  switch (device) {
    case Device::cpu:
      return cpu::combine_backward(host_view(plan), dout.f32(), expert_out.f32(), gates.f32(), dout.dim(1),
                                   dexpert_out.f32(), dgates.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::combine_backward(data_of<std::int32_t>(plan.row_of_copy), extents.tokens,
                                                  extents.top_k, data_of<cuda::bf16_bits>(dout),
                                                  data_of<cuda::bf16_bits>(expert_out), data_of<float>(gates),
                                                  dout.dim(1), data_of<cuda::bf16_bits>(dexpert_out),
                                                  data_of<float>(dgates)));
  }
}

}  // namespace diverge::ops
