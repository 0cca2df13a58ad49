// load_balance_loss op: checks the router's sums against expert counts and dispatches the loss.
#include "engine/step_profile.h"
#include "kernels/cpu/load_balance.h"
#include "kernels/cuda/load_balance.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

void load_balance_loss(const RouterSums& sums, const Tensor& counts, const Tensor& loss, Write write) {
  const PartScope part(StepPart::router_dispatch);
  constexpr const char* kOp = "load_balance_loss";
  check_router_sums(kOp, sums, sums.lse.dim(0));
  check_arg(kOp, {"counts", counts}, DType::i32, 1);
  check_extent(kOp, {"counts", counts}, 0, sums.prob_sums.dim(1), "E, the experts of sums.prob_sums");
  check_scalar(kOp, {"loss", loss});
  const bool accumulate = write == Write::accumulate;
  const std::int64_t tokens = sums.lse.dim(0), experts = counts.dim(0);
  switch (common_device(
      kOp, {{"sums.prob_sums", sums.prob_sums}, {"sums.lse", sums.lse}, {"counts", counts}, {"loss", loss}})) {
    case Device::cpu:
      return write_host_scalar(
          loss, cpu::load_balance_loss(sums.prob_sums.f32(), counts.i32(), tokens, experts), accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::load_balance_loss(data_of<float>(sums.prob_sums), data_of<std::int32_t>(counts),
                                                   tokens, experts, data_of<float>(loss), accumulate));
  }
}

}  // namespace diverge::ops
