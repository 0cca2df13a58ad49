// Optimizer ops: checks hyper-parameters and the flat blocks, then dispatches AdamW and gradient-norm work.
#include <cmath>
#include <string>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/adamw.h"
#include "kernels/cpu/grad_norm.h"
#include "kernels/cuda/optimizer.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

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

double sum_of_squares(const Tensor& grads) {
  const PartScope part(StepPart::optimizer);
  constexpr const char* kOp = "sum_of_squares";
  check_arg(kOp, {"grads", grads}, DType::f32, -1);
  switch (common_device(kOp, {{"grads", grads}})) {
    case Device::cpu: return cpu::sum_of_squares(grads.f32(), grads.numel());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::sum_of_squares(data_of<float>(grads), grads.numel()));
  }
  no_cuda_kernel(kOp);
}

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
