// router_z_loss op: checks the router's logsumexps and dispatches the loss.
#include "engine/step_profile.h"
#include "kernels/cpu/z_loss.h"
#include "kernels/cuda/z_loss.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

void router_z_loss(const Tensor& lse, const Tensor& loss, Write write) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "router_z_loss";
  check_arg(kOp, {"lse", lse}, DType::f32, 1);
  check_scalar(kOp, {"loss", loss});
  const bool accumulate = write == Write::accumulate;
  switch (common_device(kOp, {{"lse", lse}, {"loss", loss}})) {
    case Device::cpu: return write_host_scalar(loss, cpu::router_z_loss(lse.f32(), lse.dim(0)), accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::router_z_loss(data_of<float>(lse), lse.dim(0), data_of<float>(loss), accumulate));
  }
}

}  // namespace diverge::ops
