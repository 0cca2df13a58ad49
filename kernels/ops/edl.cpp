// Expert Divergence Loss ops: derive (S, T, E, M) from the tensors, check every argument, dispatch the three steps.
#include "engine/step_profile.h"
#include "kernels/cpu/edl.h"
#include "kernels/cuda/edl.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"
#include "kernels/ops/sequence_args.h"

namespace diverge::ops {

namespace {

void check_sums(const char* op, const Tensor& sums, const Tensor& counts, std::int64_t experts) {
  check_arg(op, {"sums", sums}, DType::f32, 2);
  check_extent(op, {"sums", sums}, 1, experts, "E, the experts");
  check_arg(op, {"counts", counts}, DType::f32, 1);
  check_extent(op, {"counts", counts}, 0, sums.dim(0), "M, the labels of sums");
}

}  // namespace

void edl_domain_sums(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& sums,
                     const Tensor& counts) {
  const PartScope part(StepPart::edl);
  constexpr const char* kOp = "edl_domain_sums";
  check_arg(kOp, {"sums", sums}, DType::f32, 2);
  const cpu::SequenceShape s = sequence_shape(kOp, probs, mask, domains, sums.dim(0));
  check_sums(kOp, sums, counts, s.experts);
  check_optional_device(kOp, {"probs", probs}, {"mask", mask});
  switch (common_device(kOp, {{"probs", probs}, {"domains", domains}, {"sums", sums}, {"counts", counts}})) {
    case Device::cpu:
      return cpu::edl_domain_sums(s, probs.f32(), mask_data(mask), domains.i32(), sums.f32(), counts.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::edl_domain_sums(s, data_of<float>(probs), mask_data(mask),
                                                 data_of<std::int32_t>(domains), data_of<float>(sums),
                                                 data_of<float>(counts)));
  }
}

void edl_loss_from_sums(const Tensor& sums, const Tensor& counts, float eps, const Tensor& jsd, const Tensor& present,
                        const Tensor& dsums, const Tensor& loss, Write write) {
  const PartScope part(StepPart::edl);
  constexpr const char* kOp = "edl_loss_from_sums";
  check_arg(kOp, {"sums", sums}, DType::f32, 2);
  check_sums(kOp, sums, counts, sums.dim(1));
  const std::int64_t labels = sums.dim(0);
  check_arg(kOp, {"jsd", jsd}, DType::f32, 2);
  check_extent(kOp, {"jsd", jsd}, 0, labels, "M, the labels of sums");
  check_extent(kOp, {"jsd", jsd}, 1, labels, "M, the labels of sums");
  if (!present.empty()) {
    check_arg(kOp, {"present", present}, DType::i32, 1);
    check_extent(kOp, {"present", present}, 0, labels, "M, the labels of sums");
  }
  if (!dsums.empty()) check_like(kOp, {"dsums", dsums}, {"sums", sums});
  check_scalar(kOp, {"loss", loss});
  const bool accumulate = write == Write::accumulate;
  check_optional_device(kOp, {"sums", sums}, {"present", present});
  check_optional_device(kOp, {"sums", sums}, {"dsums", dsums});
  switch (common_device(kOp, {{"sums", sums}, {"counts", counts}, {"jsd", jsd}, {"loss", loss}})) {
    case Device::cpu:
      return write_host_scalar(loss,
                               cpu::edl_loss_from_sums(sums.f32(), counts.f32(), labels, sums.dim(1),
                                                       static_cast<double>(eps), jsd.f32(),
                                                       present.empty() ? nullptr : present.i32(),
                                                       dsums.empty() ? nullptr : dsums.f32()),
                               accumulate);
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::edl_loss_from_sums(data_of<float>(sums), data_of<float>(counts), labels, sums.dim(1),
                                                    eps, data_of<float>(jsd),
                                                    present.empty() ? nullptr : data_of<std::int32_t>(present),
                                                    dsums.empty() ? nullptr : data_of<float>(dsums),
                                                    data_of<float>(loss), accumulate));
  }
}

void edl_backward(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& dsums, float coef,
                  const Tensor& dlogits) {
  const PartScope part(StepPart::edl);
  constexpr const char* kOp = "edl_backward";
  check_arg(kOp, {"dsums", dsums}, DType::f32, 2);
  const cpu::SequenceShape s = sequence_shape(kOp, probs, mask, domains, dsums.dim(0));
  check_extent(kOp, {"dsums", dsums}, 1, s.experts, "E, the experts of probs");
  check_like(kOp, {"dlogits", dlogits}, {"probs", probs});
  check_optional_device(kOp, {"probs", probs}, {"mask", mask});
  switch (common_device(kOp, {{"probs", probs}, {"domains", domains}, {"dsums", dsums}, {"dlogits", dlogits}})) {
    case Device::cpu:
      return cpu::edl_backward(s, probs.f32(), mask_data(mask), domains.i32(), dsums.f32(), coef, dlogits.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, cuda::edl_backward(s, data_of<float>(probs), mask_data(mask), data_of<std::int32_t>(domains),
                                              data_of<float>(dsums), coef, data_of<float>(dlogits)));
  }
}

void expert_divergence_loss(const Tensor& probs, const Tensor& mask, const Tensor& domains, float eps,
                            const EdlBuffers& buffers, float coef, const Tensor& dlogits) {
  const PartScope part(StepPart::edl);
  edl_domain_sums(probs, mask, domains, buffers.sums, buffers.counts);
  edl_loss_from_sums(buffers.sums, buffers.counts, eps, buffers.jsd, buffers.present,
                     dlogits.empty() ? Tensor{} : buffers.dsums, buffers.loss);
  if (!dlogits.empty()) edl_backward(probs, mask, domains, buffers.dsums, coef, dlogits);
}

}  // namespace diverge::ops
