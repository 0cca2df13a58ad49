// expert_ffn op: checks the input rows, offsets, expert weights and saved activations agree, then dispatches. The
// offsets' and a gather's values are checked where they are: on the CPU by check_expert_offsets and
// check_expert_input; on CUDA they stay on the device (checking them there would cost a wait for the host per call),
// where the route plan that wrote them was checked already and the grouped kernels clamp them, so that bad ones give
// wrong rows but no access out of bounds.
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/expert_ffn.h"
#include "kernels/cuda/expert_ffn.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

bool gathers(const ExpertInput& x) { return !x.copy_of_row.empty(); }

// x, the weights and the saved activations are the device's activation dtype (bf16 on CUDA); R is the rows of x, or
// of copy_of_row when gathering.
ExpertShape checked_shape(const char* op, Device device, const ExpertInput& x, const Tensor& offsets,
                          const ExpertWeights& w, const ExpertActivations& saved) {
  const DType dtype = activation_dtype(device);
  check_arg(op, {"x", x.x}, dtype, 2);
  if (gathers(x)) {
    check_arg(op, {"copy_of_row", x.copy_of_row}, DType::i32, 1);
    check(x.top_k > 0, op, "top_k is " + std::to_string(x.top_k) + ", expected at least 1");
  }
  check_arg(op, {"w.gate", w.gate}, dtype, 3);
  const std::int64_t rows = gathers(x) ? x.copy_of_row.dim(0) : x.x.dim(0);
  const ExpertShape s{w.gate.dim(0), rows, x.x.dim(1), w.gate.dim(1)};
  check_extent(op, {"w.gate", w.gate}, 2, s.dim, "C, the width of x");
  check_like(op, {"w.up", w.up}, {"w.gate", w.gate});
  check_arg(op, {"w.down", w.down}, dtype, 3);
  check_extent(op, {"w.down", w.down}, 0, s.experts, "E, the experts of w.gate");
  check_extent(op, {"w.down", w.down}, 1, s.dim, "C, the width of x");
  check_extent(op, {"w.down", w.down}, 2, s.hidden, "F, the hidden width of w.gate");
  check_arg(op, {"offsets", offsets}, DType::i32, 1);
  check_extent(op, {"offsets", offsets}, 0, s.experts + 1, "E + 1");
  for (Arg arg : {Arg{"saved.gate", saved.gate}, Arg{"saved.up", saved.up}, Arg{"saved.hidden", saved.hidden}}) {
    check_arg(op, arg, dtype, 2);
    check_extent(op, arg, 0, s.rows, "R, the grouped rows");
    check_extent(op, arg, 1, s.hidden, "F, the hidden width of w.gate");
  }
  return s;
}

// An (R, C) tensor of the activation dtype beside the input rows: the output, its gradient, the rows' gradient.
void check_rows(const char* op, Arg arg, Device device, const ExpertShape& s) {
  check_arg(op, arg, activation_dtype(device), 2);
  check_extent(op, arg, 0, s.rows, "R, the grouped rows");
  check_extent(op, arg, 1, s.dim, "C, the width of x");
}

// The tensors that forward and backward share, first in their device check.
std::vector<Arg> shared_args(const ExpertInput& x, const Tensor& offsets, const ExpertWeights& w,
                             const ExpertActivations& saved) {
  std::vector<Arg> args = {{"x", x.x},         {"offsets", offsets},       {"w.gate", w.gate},
                           {"w.up", w.up},     {"w.down", w.down},         {"saved.gate", saved.gate},
                           {"saved.up", saved.up}, {"saved.hidden", saved.hidden}};
  if (gathers(x)) args.push_back({"copy_of_row", x.copy_of_row});
  return args;
}

template <class P>
ExpertInputPtrs<const P> input_ptrs(const ExpertInput& x) {
  return {data_of<const P>(x.x), gathers(x) ? data_of<const std::int32_t>(x.copy_of_row) : nullptr,
          gathers(x) ? x.top_k : 1, x.x.dim(0)};
}

template <class P>
ExpertWeightPtrs<P> weight_ptrs(const ExpertWeights& w) {
  return {data_of<P>(w.gate), data_of<P>(w.up), data_of<P>(w.down)};
}

template <class P>
ExpertSavedPtrs<P> saved_ptrs(const ExpertActivations& saved) {
  return {data_of<P>(saved.gate), data_of<P>(saved.up), data_of<P>(saved.hidden)};
}

}  // namespace

ExpertInput ExpertInput::gathered(const Tensor& tokens, const RoutePlan& plan) {
  ExpertInput input(tokens);
  input.copy_of_row = plan.copy_of_row;
  input.top_k = plan.row_of_copy.ndim == 2 ? plan.row_of_copy.dim(1) : 0;
  return input;
}

void expert_ffn(const ExpertInput& x, const Tensor& offsets, const ExpertWeights& w, const ExpertActivations& saved,
                const Tensor& out) {
  const PartScope part(StepPart::expert_gemm);
  constexpr const char* kOp = "expert_ffn";
  std::vector<Arg> args = shared_args(x, offsets, w, saved);
  args.push_back({"out", out});
  const Device device = common_device(kOp, args);
  const ExpertShape s = checked_shape(kOp, device, x, offsets, w, saved);
  check_rows(kOp, {"out", out}, device, s);
  switch (device) {
    case Device::cpu:
      return cpu::expert_ffn_forward<float>(s, offsets.i32(), input_ptrs<float>(x), weight_ptrs<const float>(w),
                                            saved_ptrs<float>(saved), out.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::expert_ffn_forward(s, data_of<const std::int32_t>(offsets),
                                                    input_ptrs<cuda::bf16_bits>(x),
                                                    weight_ptrs<const cuda::bf16_bits>(w),
                                                    saved_ptrs<cuda::bf16_bits>(saved), data_of<cuda::bf16_bits>(out)));
  }
}

void expert_ffn_backward(const Tensor& dout, const ExpertInput& x, const Tensor& offsets, const ExpertWeights& w,
                         const ExpertActivations& saved, const Tensor& dx, const ExpertWeights& dw,
                         const Tensor& dgate_work, const Tensor& dup_work) {
  const PartScope part(StepPart::expert_gemm);
  constexpr const char* kOp = "expert_ffn_backward";
  std::vector<Arg> args = shared_args(x, offsets, w, saved);
  for (Arg arg : {Arg{"dout", dout}, Arg{"dx", dx}, Arg{"dw.gate", dw.gate}, Arg{"dw.up", dw.up},
                  Arg{"dw.down", dw.down}, Arg{"dgate_work", dgate_work}, Arg{"dup_work", dup_work}})
    args.push_back(arg);
  const Device device = common_device(kOp, args);
  const ExpertShape s = checked_shape(kOp, device, x, offsets, w, saved);
  check_rows(kOp, {"dout", dout}, device, s);
  check_rows(kOp, {"dx", dx}, device, s);
  // Parameter gradients are f32 on every device.
  for (const auto& [gradient, weight] : {std::pair{Arg{"dw.gate", dw.gate}, Arg{"w.gate", w.gate}},
                                         std::pair{Arg{"dw.up", dw.up}, Arg{"w.up", w.up}},
                                         std::pair{Arg{"dw.down", dw.down}, Arg{"w.down", w.down}}}) {
    check_arg(kOp, gradient, DType::f32, 3);
    check_shape_like(kOp, gradient, weight);
  }
  check_like(kOp, {"dgate_work", dgate_work}, {"saved.gate", saved.gate});
  check_like(kOp, {"dup_work", dup_work}, {"saved.gate", saved.gate});
  switch (device) {
    case Device::cpu:
      return cpu::expert_ffn_backward<float>(s, offsets.i32(), input_ptrs<float>(x), weight_ptrs<const float>(w),
                                             saved_ptrs<const float>(saved), dout.f32(), dx.f32(),
                                             weight_ptrs<float>(dw), dgate_work.f32(), dup_work.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::expert_ffn_backward(s, data_of<const std::int32_t>(offsets),
                                                     input_ptrs<cuda::bf16_bits>(x),
                                                     weight_ptrs<const cuda::bf16_bits>(w),
                                                     saved_ptrs<const cuda::bf16_bits>(saved),
                                                     data_of<const cuda::bf16_bits>(dout),
                                                     data_of<cuda::bf16_bits>(dx), weight_ptrs<float>(dw),
                                                     data_of<cuda::bf16_bits>(dgate_work),
                                                     data_of<cuda::bf16_bits>(dup_work)));
  }
}

}  // namespace diverge::ops
