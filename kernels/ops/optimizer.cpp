// Optimizer ops: checks hyper-parameters and the flat blocks, then dispatches AdamW and gradient-norm work.
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/grad_norm.h"
#include "kernels/cuda/optimizer.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

#ifdef DIVERGE_WITH_CUDA
std::vector<double> device_sums_of_squares(std::span<const Tensor> parts) {
  std::vector<cuda::SquaresPart> device_parts;
  for (const Tensor& t : parts) device_parts.push_back({data_of<float>(t), t.numel()});
  std::vector<double> sums(parts.size());
  cuda::sums_of_squares(device_parts, sums.data());
  return sums;
}
#endif

void check_hyper(const AdamWHyper& h) {
  constexpr const char* kWhere = "adamw_step";
  check(h.lr >= 0.0f, kWhere, "learning rate must be non-negative, got " + std::to_string(h.lr));
  check(0.0f <= h.beta1 && h.beta1 < 1.0f, kWhere, "beta1 must be in [0, 1), got " + std::to_string(h.beta1));
  check(0.0f <= h.beta2 && h.beta2 < 1.0f, kWhere, "beta2 must be in [0, 1), got " + std::to_string(h.beta2));
  check(h.eps > 0.0f, kWhere, "eps must be positive, got " + std::to_string(h.eps));
  check(h.weight_decay >= 0.0f, kWhere, "weight decay must be non-negative, got " + std::to_string(h.weight_decay));
  check(h.step >= 1, kWhere, "step counts from 1, got " + std::to_string(h.step));
}

}  // namespace

void adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v, const AdamWHyper& h) {
  const PartScope part(StepPart::optimizer);
  constexpr const char* kOp = "adamw_step";
  check_hyper(h);
  check_arg(kOp, {"params", params}, DType::f32, -1);
  check_like(kOp, {"grads", grads}, {"params", params});
  check_like(kOp, {"m", m}, {"params", params});
  check_like(kOp, {"v", v}, {"params", params});
  switch (common_device(kOp, {{"params", params}, {"grads", grads}, {"m", m}, {"v", v}})) {
    case Device::cpu:
      return cpu::adamw_step(cpu::AdamWHyper<float>{h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.step, h.grad_scale},
                             params.numel(), params.f32(), grads.f32(), m.f32(), v.f32());
    case Device::cuda: {
      // The bias corrections as the CPU reference computes them, in float.
      const auto step = static_cast<float>(h.step);
      const cuda::AdamWStep s{h.lr,
                              h.beta1,
                              h.beta2,
                              h.eps,
                              1.0f - h.lr * h.weight_decay,
                              1.0f - std::pow(h.beta1, step),
                              1.0f - std::pow(h.beta2, step),
                              h.grad_scale};
      DIVERGE_CUDA_OP(kOp, cuda::adamw_step(s, params.numel(), data_of<float>(params), data_of<float>(grads),
                                            data_of<float>(m), data_of<float>(v)));
    }
  }
}

std::vector<double> sums_of_squares(std::span<const Tensor> parts) {
  const PartScope part(StepPart::optimizer);
  constexpr const char* kOp = "sums_of_squares";
  std::vector<Arg> args;
  for (const Tensor& t : parts) {
    check_arg(kOp, {"part", t}, DType::f32, -1);
    args.push_back({"part", t});
  }
  if (parts.empty()) return {};
  switch (common_device(kOp, args)) {
    case Device::cpu: {
      std::vector<double> sums;
      for (const Tensor& t : parts) sums.push_back(cpu::sum_of_squares(t.f32(), t.numel()));
      return sums;
    }
    case Device::cuda: DIVERGE_CUDA_OP(kOp, device_sums_of_squares(parts));
  }
  no_cuda_kernel(kOp);
}

double sum_of_squares(const Tensor& grads) { return sums_of_squares(std::span<const Tensor>(&grads, 1))[0]; }

float clip_grad_norm(const Tensor& grads, float max_norm) {
  const PartScope part(StepPart::optimizer);
  constexpr const char* kOp = "clip_grad_norm";
  check_arg(kOp, {"grads", grads}, DType::f32, -1);
  check(max_norm > 0.0f, kOp, "max_norm must be positive, got " + std::to_string(max_norm));
  switch (common_device(kOp, {{"grads", grads}})) {
    case Device::cpu: return cpu::clip_grad_norm(grads.f32(), grads.numel(), max_norm);
    case Device::cuda: break;
  }
  no_cuda_kernel(kOp);
}

}  // namespace diverge::ops
