// The backend-neutral op interface the model calls: Tensors in, Tensors out, dispatched on the tensors' device.
#pragma once

#include <cstdint>

#include "engine/tensor.h"

// Conventions for every op here:
// - Arguments are validated (dtype, rank, extents, one device) and a mismatch throws diverge::Error naming the op and
//   the argument. The CPU backend computes in f32; CUDA tensors are refused until the CUDA kernels exist.
// - Outputs are written by the op, never allocated by it: callers take them from an arena.
// - Backward passes overwrite the gradients of activations and add to the gradients of parameters (these
//   accumulate over micro-batches and are zeroed by the optimizer step), unless a Write argument says otherwise.
// - Optional gradient outputs are skipped when passed an empty Tensor{}.
namespace diverge::ops {

// Whether an op overwrites its output or adds to what is there.
enum class Write : std::uint8_t { overwrite, accumulate };

// ---- matmul ----------------------------------------------------------------------------------------------------
// out = op(a) @ op(b), with op() a transpose when asked:
//   a    (M, K) or (..., K) flattened to rows; with trans_a stored (K, M)
//   b    (K, N); with trans_b stored (N, K) (a linear layer's weight (out, in) is used with trans_b)
//   out  (M, N) or (..., N) flattened to rows
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool trans_a, bool trans_b,
            Write write = Write::overwrite);
// Gradients of matmul: da like a, db like b, from dout like out. Either may be empty (not wanted).
void matmul_backward(const Tensor& dout, const Tensor& a, const Tensor& b, const Tensor& da, const Tensor& db,
                     bool trans_a, bool trans_b, Write write_da, Write write_db);

// ---- embedding -------------------------------------------------------------------------------------------------
//   ids    (N) or (B, T), i32 in [0, V)
//   table  (V, C)
//   out    (N, C) or (B, T, C)
void embedding(const Tensor& ids, const Tensor& table, const Tensor& out);
// dtable (V, C) += scatter-add of dout (N, C) or (B, T, C) by ids.
void embedding_backward(const Tensor& ids, const Tensor& dout, const Tensor& dtable);

// ---- RMSNorm over the last dimension ----------------------------------------------------------------------------
// out = x / sqrt(mean(x^2) + eps) * weight. Also serves per-head QK-norm: x (B, T, H, D) with weight (D).
//   x       (..., C)
//   weight  (C)
//   out     (..., C), like x
//   rstd    (...) i.e. one value per row of x, saved for the backward pass
void rmsnorm(const Tensor& x, const Tensor& weight, const Tensor& out, const Tensor& rstd, float eps);
// dx (..., C) is overwritten; dweight (C) is added to.
void rmsnorm_backward(const Tensor& dout, const Tensor& x, const Tensor& weight, const Tensor& rstd, const Tensor& dx,
                      const Tensor& dweight);

// ---- rotary position embedding ----------------------------------------------------------------------------------
// Rotates q or k by position (the index along T), half-split pairs (i, i + D/2) as HF Llama/Qwen3's rotate_half,
// frequencies theta^(-2i/D). out may be x itself.
//   x    (B, T, H, D), D even
//   out  (B, T, H, D)
void rope(const Tensor& x, const Tensor& out, float theta);
// dx (B, T, H, D) from dout (B, T, H, D); dx may be dout itself.
void rope_backward(const Tensor& dout, const Tensor& dx, float theta);

// ---- SwiGLU activation ------------------------------------------------------------------------------------------
//   gate, up, out  (..., F), all one shape; out = silu(gate) * up
void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out);
// dgate and dup (..., F) are overwritten.
void swiglu_backward(const Tensor& dout, const Tensor& gate, const Tensor& up, const Tensor& dgate, const Tensor& dup);

// ---- fused softmax cross-entropy --------------------------------------------------------------------------------
// Returns the mean of -log softmax(logits)[target] over targets that are not -1 (0 when all are ignored).
//   logits   (N, V) or (B, T, V)
//   targets  (N) or (B, T), i32 in [0, V) or -1 (ignored)
//   lse      (N) or (B, T): logsumexp of each row, saved for the backward pass
float cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& lse);
// dlogits (like logits) = dloss * (softmax - onehot) / count; ignored rows get zeros. dlogits may be logits itself.
void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float dloss,
                            const Tensor& dlogits);

// ---- causal self-attention with grouped KV heads ----------------------------------------------------------------
// out = softmax(q k^T / sqrt(D) + causal mask) v, per head; query head h reads KV head h / (H / Hkv).
//   q    (B, T, H, D)
//   k, v (B, T, Hkv, D), H a multiple of Hkv
//   out  (B, T, H, D)
//   lse  (B, H, T): logsumexp of each score row, saved for the backward pass
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse);
// dq (B, T, H, D), dk and dv (B, T, Hkv, D) are overwritten.
void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const Tensor& dout, const Tensor& dq, const Tensor& dk, const Tensor& dv);

// ---- MoE router -------------------------------------------------------------------------------------------------
// probs = softmax(logits) over all E experts (dense, for the auxiliary losses); topk = the k most probable experts
// per token, most probable first, ties to the lower expert index; gates = their probabilities, divided by their
// sum when renormalize (config router.renorm_topk).
//   logits  (N, E)
//   probs   (N, E)
//   topk    (N, k) i32, 1 <= k <= E
//   gates   (N, k)
void router(const Tensor& logits, const Tensor& probs, const Tensor& topk, const Tensor& gates, bool renormalize);
// dlogits (N, E) from dgates (N, k) and, unless empty, dprobs (N, E).
void router_backward(const Tensor& probs, const Tensor& topk, const Tensor& gates, const Tensor& dgates,
                     const Tensor& dprobs, const Tensor& dlogits, bool renormalize, Write write);

// ---- MoE dispatch / combine -------------------------------------------------------------------------------------
// The N * k (token, choice) copies, copy c = t * k + j, permuted into rows grouped by expert. Experts may receive
// no rows at all; that is normal and reads or writes nothing.
struct RoutePlan {
  Tensor counts;       // (E) i32: rows per expert
  Tensor offsets;      // (E + 1) i32: expert e's rows are [offsets[e], offsets[e + 1])
  Tensor row_of_copy;  // (N, k) i32: the grouped row holding token t's j-th copy
  Tensor copy_of_row;  // (N * k) i32: the copy each grouped row holds
};
// Stable counting sort of the copies in topk (N, k) i32 into plan; E = plan.counts' length.
void route_plan(const Tensor& topk, const RoutePlan& plan);
// grouped (N * k, C): each row a copy of its token's row of x (N, C).
void dispatch(const Tensor& x, const RoutePlan& plan, const Tensor& grouped);
// dx (N, C) = sum of the token's copies' rows of dgrouped (N * k, C); overwritten.
void dispatch_backward(const Tensor& dgrouped, const RoutePlan& plan, const Tensor& dx);
// out (N, C) = sum_j gates (N, k) [t][j] * expert_out (N * k, C) [row of copy (t, j)]; overwritten.
void combine(const Tensor& expert_out, const Tensor& gates, const RoutePlan& plan, const Tensor& out);
// dexpert_out (N * k, C) and dgates (N, k), both overwritten, from dout (N, C).
void combine_backward(const Tensor& dout, const Tensor& expert_out, const Tensor& gates, const RoutePlan& plan,
                      const Tensor& dexpert_out, const Tensor& dgates);

// ---- expert FFN over expert-grouped rows ------------------------------------------------------------------------
// For each expert e, rows [offsets[e], offsets[e + 1]) of x go through that expert's SwiGLU FFN:
//   out = (silu(x W_gate[e]^T) * (x W_up[e]^T)) W_down[e]^T
struct ExpertWeights {
  Tensor gate;  // (E, F, C)
  Tensor up;    // (E, F, C)
  Tensor down;  // (E, C, F)
};
// Activations saved by the forward pass for the backward pass.
struct ExpertActivations {
  Tensor gate;    // (R, F): x W_gate^T
  Tensor up;      // (R, F): x W_up^T
  Tensor hidden;  // (R, F): silu(gate) * up
};
//   x        (R, C), rows grouped by expert (see dispatch)
//   offsets  (E + 1) i32, from 0 to R (RoutePlan::offsets)
//   out      (R, C)
void expert_ffn(const Tensor& x, const Tensor& offsets, const ExpertWeights& w, const ExpertActivations& saved,
                const Tensor& out);
// dx (R, C) is overwritten; dw (like w) is added to. dgate_work and dup_work (R, F) are workspace.
void expert_ffn_backward(const Tensor& dout, const Tensor& x, const Tensor& offsets, const ExpertWeights& w,
                         const ExpertActivations& saved, const Tensor& dx, const ExpertWeights& dw,
                         const Tensor& dgate_work, const Tensor& dup_work);

// ---- auxiliary routing losses (EDL.md) --------------------------------------------------------------------------
// Their gradients are added to the router's dlogits, which also collects the gates' gradient (router_backward).
// Load balance, Switch form: E * sum_e f_e P_e, 1 when perfectly balanced; f_e = counts[e] / sum(counts) carries no
// gradient, P_e = mean over tokens of probs[t][e].
//   probs   (N, E): the router's dense probabilities
//   counts  (E) i32: routed assignments per expert (RoutePlan::counts; summed over ranks for the global scope)
float load_balance_loss(const Tensor& probs, const Tensor& counts);
// dlogits (N, E) += dloss * d loss / d logits.
void load_balance_loss_backward(const Tensor& probs, const Tensor& counts, float dloss, const Tensor& dlogits);
// Router z-loss: (1 / N) sum_t logsumexp(logits[t])^2 over logits (N, E).
float router_z_loss(const Tensor& logits);
// dlogits (N, E) += dloss * d loss / d logits.
void router_z_loss_backward(const Tensor& logits, float dloss, const Tensor& dlogits);

// ---- optimizer --------------------------------------------------------------------------------------------------
struct AdamWHyper {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
  std::int64_t step = 1;  // 1 for the first update
};
// One AdamW update (decoupled weight decay, bias correction, as torch.optim.AdamW) over a flat block; parameters
// that take no weight decay are a separate slice updated with weight_decay = 0.
//   params, grads, m, v  (P), all one shape; params, m, v updated
void adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v, const AdamWHyper& h);
// sum of squares of grads (any shape), deterministic; distributed runs all-reduce it before taking the root.
double sum_of_squares(const Tensor& grads);
// Scales grads (any shape) so their global norm is at most max_norm; returns the norm before clipping.
float clip_grad_norm(const Tensor& grads, float max_norm);

}  // namespace diverge::ops
