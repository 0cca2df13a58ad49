// expert_ffn op: checks grouped rows, offsets, expert weights and saved activations agree, then dispatches.
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/expert_ffn.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

cpu::ExpertShape checked_shape(const char* op, const Tensor& x, const Tensor& offsets, const ExpertWeights& w,
                               const ExpertActivations& saved) {
  check_arg(op, {"x", x}, DType::f32, 2);
  check_arg(op, {"w.gate", w.gate}, DType::f32, 3);
  const cpu::ExpertShape s{w.gate.dim(0), x.dim(0), x.dim(1), w.gate.dim(1)};
  check_extent(op, {"w.gate", w.gate}, 2, s.dim, "C, the width of x");
  check_like(op, {"w.up", w.up}, {"w.gate", w.gate});
  check_arg(op, {"w.down", w.down}, DType::f32, 3);
  check_extent(op, {"w.down", w.down}, 0, s.experts, "E, the experts of w.gate");
  check_extent(op, {"w.down", w.down}, 1, s.dim, "C, the width of x");
  check_extent(op, {"w.down", w.down}, 2, s.hidden, "F, the hidden width of w.gate");
  check_arg(op, {"offsets", offsets}, DType::i32, 1);
  check_extent(op, {"offsets", offsets}, 0, s.experts + 1, "E + 1");
  for (Arg arg : {Arg{"saved.gate", saved.gate}, Arg{"saved.up", saved.up}, Arg{"saved.hidden", saved.hidden}}) {
    check_arg(op, arg, DType::f32, 2);
    check_extent(op, arg, 0, s.rows, "R, the rows of x");
    check_extent(op, arg, 1, s.hidden, "F, the hidden width of w.gate");
  }
  return s;
}

// The tensors that forward and backward share, first in their device check.
std::vector<Arg> shared_args(const Tensor& x, const Tensor& offsets, const ExpertWeights& w,
                             const ExpertActivations& saved) {
  return {{"x", x},           {"offsets", offsets},       {"w.gate", w.gate},     {"w.up", w.up},
          {"w.down", w.down}, {"saved.gate", saved.gate}, {"saved.up", saved.up}, {"saved.hidden", saved.hidden}};
}

}  // namespace

void expert_ffn(const Tensor& x, const Tensor& offsets, const ExpertWeights& w, const ExpertActivations& saved,
                const Tensor& out) {
  constexpr const char* kOp = "expert_ffn";
  const cpu::ExpertShape s = checked_shape(kOp, x, offsets, w, saved);
  check_like(kOp, {"out", out}, {"x", x});
  std::vector<Arg> args = shared_args(x, offsets, w, saved);
  args.push_back({"out", out});
  switch (common_device(kOp, args)) {
    case Device::cpu:
      return cpu::expert_ffn_forward<float>(s, offsets.i32(), x.f32(), {w.gate.f32(), w.up.f32(), w.down.f32()},
                                            {saved.gate.f32(), saved.up.f32(), saved.hidden.f32()}, out.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

void expert_ffn_backward(const Tensor& dout, const Tensor& x, const Tensor& offsets, const ExpertWeights& w,
                         const ExpertActivations& saved, const Tensor& dx, const ExpertWeights& dw,
                         const Tensor& dgate_work, const Tensor& dup_work) {
  constexpr const char* kOp = "expert_ffn_backward";
  const cpu::ExpertShape s = checked_shape(kOp, x, offsets, w, saved);
  check_like(kOp, {"dout", dout}, {"x", x});
  check_like(kOp, {"dx", dx}, {"x", x});
  check_like(kOp, {"dw.gate", dw.gate}, {"w.gate", w.gate});
  check_like(kOp, {"dw.up", dw.up}, {"w.up", w.up});
  check_like(kOp, {"dw.down", dw.down}, {"w.down", w.down});
  check_like(kOp, {"dgate_work", dgate_work}, {"saved.gate", saved.gate});
  check_like(kOp, {"dup_work", dup_work}, {"saved.gate", saved.gate});
  std::vector<Arg> args = shared_args(x, offsets, w, saved);
  for (Arg arg : {Arg{"dout", dout}, Arg{"dx", dx}, Arg{"dw.gate", dw.gate}, Arg{"dw.up", dw.up},
                  Arg{"dw.down", dw.down}, Arg{"dgate_work", dgate_work}, Arg{"dup_work", dup_work}})
    args.push_back(arg);
  switch (common_device(kOp, args)) {
    case Device::cpu:
      return cpu::expert_ffn_backward<float>(s, offsets.i32(), x.f32(), {w.gate.f32(), w.up.f32(), w.down.f32()},
                                             {saved.gate.f32(), saved.up.f32(), saved.hidden.f32()}, dout.f32(),
                                             dx.f32(), {dw.gate.f32(), dw.up.f32(), dw.down.f32()}, dgate_work.f32(),
                                             dup_work.f32());
    case Device::cuda: no_cuda_kernel(kOp);
  }
}

}  // namespace diverge::ops
