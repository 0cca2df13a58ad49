// attention op: checks the q/k/v/out/lse layouts and the head grouping, then dispatches forward and backward.
#include <string>

#include "engine/error.h"
#include "engine/step_profile.h"
#include "kernels/cpu/attention.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_flash.h"
#include "kernels/ops.h"
#include "kernels/ops/checks.h"

namespace diverge::ops {

namespace {

void check_cuda_head_dim(const char* op, std::int64_t head_dim) {
  std::string supported;
  for (const int d : cuda::kAttentionHeadDims) supported += (supported.empty() ? "" : ", ") + std::to_string(d);
  check(cuda::attention_supports_head_dim(head_dim), op,
        "head dim D = " + std::to_string(head_dim) + " has no CUDA kernel (supported: " + supported + ")");
}

AttentionShape checked_shape(const char* op, Device device, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse) {
  check_arg(op, {"q", q}, activation_dtype(device), 4);
  check_arg(op, {"k", k}, activation_dtype(device), 4);
  const AttentionShape s{q.dim(0), q.dim(1), q.dim(2), k.dim(2), q.dim(3)};
  check_extent(op, {"k", k}, 0, s.batch, "B, the batch of q");
  check_extent(op, {"k", k}, 1, s.seq, "T, the sequence length of q");
  check_extent(op, {"k", k}, 3, s.head_dim, "D, the head dim of q");
  check(s.kv_heads > 0 && s.heads % s.kv_heads == 0, op,
        "q has " + std::to_string(s.heads) + " heads, not a multiple of the " + std::to_string(s.kv_heads) +
            " KV heads of k");
  check_like(op, {"v", v}, {"k", k});
  check_like(op, {"out", out}, {"q", q});
  check_arg(op, {"lse", lse}, DType::f32, 3);
  check_extent(op, {"lse", lse}, 0, s.batch, "B");
  check_extent(op, {"lse", lse}, 1, s.heads, "H, the query heads");
  check_extent(op, {"lse", lse}, 2, s.seq, "T");
  if (device == Device::cuda) check_cuda_head_dim(op, s.head_dim);
  return s;
}

}  // namespace

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse) {
  const PartScope part(StepPart::attention);
  constexpr const char* kOp = "attention";
  const Device device = common_device(kOp, {{"q", q}, {"k", k}, {"v", v}, {"out", out}, {"lse", lse}});
  const AttentionShape s = checked_shape(kOp, device, q, k, v, out, lse);
  switch (device) {
    case Device::cpu: return cpu::attention_forward(s, q.f32(), k.f32(), v.f32(), out.f32(), lse.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, (cuda::flash_attention_supports_head_dim(s.head_dim) ? cuda::flash_attention_forward
                                                                                 : cuda::attention_forward)(
                               s, data_of<cuda::bf16_bits>(q), data_of<cuda::bf16_bits>(k),
                               data_of<cuda::bf16_bits>(v), data_of<cuda::bf16_bits>(out), data_of<float>(lse)));
  }
}

void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv) {
  const PartScope part(StepPart::attention);
  constexpr const char* kOp = "attention_backward";
  const Device device = common_device(
      kOp,
      {{"q", q}, {"k", k}, {"v", v}, {"out", out}, {"lse", lse}, {"dout", dout}, {"dq", dq}, {"dk", dk}, {"dv", dv}});
  const AttentionShape s = checked_shape(kOp, device, q, k, v, out, lse);
  check_like(kOp, {"dout", dout}, {"q", q});
  check_like(kOp, {"dq", dq}, {"q", q});
  check_like(kOp, {"dk", dk}, {"k", k});
  check_like(kOp, {"dv", dv}, {"k", k});
  switch (device) {
    case Device::cpu:
      return cpu::attention_backward(s, q.f32(), k.f32(), v.f32(), out.f32(), lse.f32(), dout.f32(), dq.f32(), dk.f32(),
                                     dv.f32());
    case Device::cuda:
      DIVERGE_CUDA_OP(kOp, (cuda::flash_attention_supports_head_dim(s.head_dim) ? cuda::flash_attention_backward
                                                                                 : cuda::attention_backward)(
                               s, data_of<cuda::bf16_bits>(q), data_of<cuda::bf16_bits>(k),
                               data_of<cuda::bf16_bits>(v), data_of<cuda::bf16_bits>(out), data_of<float>(lse),
                               data_of<cuda::bf16_bits>(dout), data_of<cuda::bf16_bits>(dq),
                               data_of<cuda::bf16_bits>(dk), data_of<cuda::bf16_bits>(dv)));
  }
}

}  // namespace diverge::ops
