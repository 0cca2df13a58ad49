// router op: checks probabilities, expert choices and gates agree, then dispatches routing, its backward and the
// forced-balance assignment.
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/indices.h"
#include "kernels/cpu/router.h"
#include "kernels/cuda/router.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

cpu::RouterShape checked_shape(const char* op, Arg dense, const Tensor& topk, const Tensor& gates, bool renormalize) {
  check_arg(op, dense, DType::f32, 2);
  check_arg(op, {"topk", topk}, DType::i32, 2);
  const cpu::RouterShape s{dense.tensor.dim(0), dense.tensor.dim(1), topk.dim(1), renormalize};
  check_extent(op, {"topk", topk}, 0, s.tokens, "N, the tokens");
  check(1 <= s.top_k && s.top_k <= s.experts, op,
        "top-k " + std::to_string(s.top_k) + " must be between 1 and the " + std::to_string(s.experts) + " experts");
  check_arg(op, {"gates", gates}, DType::f32, 2);
  check_extent(op, {"gates", gates}, 0, s.tokens, "N, the tokens");
  check_extent(op, {"gates", gates}, 1, s.top_k, "k, the experts per token");
  return s;
}

}  // namespace

void router(const Tensor& logits, const Tensor& probs, const Tensor& topk, const Tensor& gates, bool renormalize,
            const RouterSums& sums) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "router";
  const cpu::RouterShape s = checked_shape(kOp, {"logits", logits}, topk, gates, renormalize);
  check_like(kOp, {"probs", probs}, {"logits", logits});
  std::vector<Arg> args = {{"logits", logits}, {"probs", probs}, {"topk", topk}, {"gates", gates}};
  const bool summing = !sums.prob_sums.empty() || !sums.lse.empty();
  if (summing) {
    check_router_sums(kOp, sums, s.tokens);
    check_extent(kOp, {"sums.prob_sums", sums.prob_sums}, 1, s.experts, "E, the experts of logits");
    args.push_back({"sums.prob_sums", sums.prob_sums});
    args.push_back({"sums.lse", sums.lse});
  }
  switch (common_device(kOp, args)) {
    case Device::cpu: {
      const RouterSumPtrs<float> ptrs = summing ? RouterSumPtrs<float>{sums.prob_sums.f32(), sums.lse.f32()}
                                                : RouterSumPtrs<float>{};
      return cpu::router_forward(s, logits.f32(), probs.f32(), topk.i32(), gates.f32(), ptrs);
    }
    case Device::cuda: {
      const RouterSumPtrs<float> ptrs =
          summing ? RouterSumPtrs<float>{data_of<float>(sums.prob_sums), data_of<float>(sums.lse)}
                  : RouterSumPtrs<float>{};
      DIVERGE_CUDA_OP(kOp, cuda::router_forward(data_of<float>(logits), s.tokens, s.experts, s.top_k, renormalize,
                                                data_of<float>(probs), data_of<std::int32_t>(topk),
                                                data_of<float>(gates), ptrs));
    }
  }
}

void router_backward(const Tensor& probs, const Tensor& topk, const Tensor& gates, const Tensor& dgates,
                     const Tensor& dprobs, const Tensor& dlogits, bool renormalize, Write write,
                     const RouterAuxGrads& aux) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "router_backward";
  const cpu::RouterShape s = checked_shape(kOp, {"probs", probs}, topk, gates, renormalize);
  check_like(kOp, {"dlogits", dlogits}, {"probs", probs});
  std::vector<Arg> args = {{"probs", probs}, {"topk", topk}, {"gates", gates}, {"dlogits", dlogits}};
  if (!dgates.empty()) {
    check_like(kOp, {"dgates", dgates}, {"gates", gates});
    args.push_back({"dgates", dgates});
  }
  if (!dprobs.empty()) {
    check_like(kOp, {"dprobs", dprobs}, {"probs", probs});
    args.push_back({"dprobs", dprobs});
  }
  if (!aux.counts.empty()) {
    check_arg(kOp, {"aux.counts", aux.counts}, DType::i32, 1);
    check_extent(kOp, {"aux.counts", aux.counts}, 0, s.experts, "E, the experts of probs");
    args.push_back({"aux.counts", aux.counts});
  }
  if (!aux.lse.empty()) {
    check_arg(kOp, {"aux.lse", aux.lse}, DType::f32, 1);
    check_extent(kOp, {"aux.lse", aux.lse}, 0, s.tokens, "N, the tokens");
    args.push_back({"aux.lse", aux.lse});
  }
  // An empty tensor's data is null: the backends' sign that a term is absent.
  const RouterAuxGradPtrs<float> terms{data_of<std::int32_t>(aux.counts), aux.load_balance, data_of<float>(aux.lse),
                                       aux.z};
  const bool accumulate = write == Write::accumulate;
  switch (common_device(kOp, args)) {
    case Device::cpu:
      cpu::check_indices(kOp, "expert", topk.i32(), topk.numel(), s.experts);
      return cpu::router_backward(s, probs.f32(), topk.i32(), gates.f32(), data_of<float>(dgates),
                                  data_of<float>(dprobs), terms, dlogits.f32(), accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::router_backward(data_of<float>(probs), data_of<std::int32_t>(topk),
                                                 data_of<float>(gates), data_of<float>(dgates),
                                                 data_of<float>(dprobs), terms, s.tokens, s.experts, s.top_k,
                                                 renormalize, accumulate, data_of<float>(dlogits)));
  }
}

void balanced_routing(std::int64_t experts, const Tensor& topk, const Tensor& gates) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "balanced_routing";
  check_arg(kOp, {"topk", topk}, DType::i32, 2);
  check_arg(kOp, {"gates", gates}, DType::f32, 2);
  check_extent(kOp, {"gates", gates}, 0, topk.dim(0), "N, the tokens");
  check_extent(kOp, {"gates", gates}, 1, topk.dim(1), "k, the experts per token");
  check(1 <= topk.dim(1) && topk.dim(1) <= experts, kOp,
        "top-k " + std::to_string(topk.dim(1)) + " must be between 1 and the " + std::to_string(experts) + " experts");
  switch (common_device(kOp, {{"topk", topk}, {"gates", gates}})) {
    case Device::cpu: return cpu::balanced_routing(topk.dim(0), experts, topk.dim(1), topk.i32(), gates.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::balanced_routing(topk.dim(0), experts, topk.dim(1), data_of<std::int32_t>(topk),
                                                  data_of<float>(gates)));
  }
}

}  // namespace diverge::ops
