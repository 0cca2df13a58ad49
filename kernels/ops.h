// The backend-neutral op interface the model calls: Tensors in, Tensors out, dispatched on the tensors' device.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/tensor.h"
#include "kernels/router_sums.h"

// Conventions for every op here:
// - Arguments are validated (dtype, rank, extents, one device) and a mismatch throws diverge::Error naming the op and
//   the argument. The CPU backend computes in f32; on CUDA activations are bf16 and statistics, losses and parameter
//   gradients f32 (KERNELS.md, "Precision on CUDA"); an op without a CUDA kernel yet refuses CUDA tensors.
// - Outputs are written by the op, never allocated by it: callers take them from an arena.
// - Backward passes overwrite the gradients of activations and add to the gradients of parameters (these
//   accumulate over micro-batches and are zeroed by the optimizer step), unless a Write argument says otherwise.
// - Optional gradient outputs are skipped when passed an empty Tensor{}.
namespace diverge::ops {

// The dtype of activations and of the weights the forward reads on a device: f32 on the CPU (the reference), bf16
// on CUDA, where statistics, losses and gradients of parameters stay f32 (KERNELS.md, "Precision on CUDA").
DType activation_dtype(Device device);

// Whether an op overwrites its output or adds to what is there.
enum class Write : std::uint8_t { overwrite, accumulate };

// ---- matmul ----------------------------------------------------------------------------------------------------
// out = op(a) @ op(b), with op() a transpose when asked:
//   a    (M, K) or (..., K) flattened to rows; with trans_a stored (K, M)
//   b    (K, N); with trans_b stored (N, K) (a linear layer's weight (out, in) is used with trans_b)
//   out  (M, N) or (..., N) flattened to rows
// On CUDA a and b are bf16 and out bf16 or f32; the gradients may be either, dout too (an f32 dout is rounded).
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool trans_a, bool trans_b,
            Write write = Write::overwrite);
// Gradients of matmul: da like a, db like b, from dout like out. Either may be empty (not wanted).
void matmul_backward(const Tensor& dout, const Tensor& a, const Tensor& b, const Tensor& da, const Tensor& db,
                     bool trans_a, bool trans_b, Write write_da, Write write_db);

// ---- elementwise -----------------------------------------------------------------------------------------------
// out = a + b, all one shape in the device's activation dtype; out may be a or b (the residual stream's add).
void add(const Tensor& a, const Tensor& b, const Tensor& out);
// dst = src, one shape and dtype.
void copy(const Tensor& src, const Tensor& dst);
// dst (activation dtype) = src (f32) of one shape, rounded to nearest even on CUDA (the bf16 working copy of the
// fp32 master weights), copied on the CPU.
void cast_to_activation(const Tensor& src, const Tensor& dst);

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
// Per row: -log softmax(logits)[target]. The mean over a batch is scaled_sum(row_loss, 1 / targets counted), which
// stays right when the rows are processed in chunks (the LM head never holds every row's logits).
//   logits    (N, V) or (B, T, V), f32 on every device (a large vocabulary's logsumexp needs fp32 inputs)
//   targets   (N) or (B, T), i32 in [0, V) or -1 (ignored)
//   lse       (N) or (B, T) written: logsumexp of each row, saved for the backward pass
//   row_loss  (N) or (B, T) written: lse - logits[target], 0 for ignored rows
void cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& lse, const Tensor& row_loss);
// dlogits (like logits) = weight * (softmax - onehot); ignored rows get zeros. dlogits may be logits itself.
void cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& lse, float weight,
                            const Tensor& dlogits);
// out (one f32) = scale * the sum of values (f32, any shape), in double in an order fixed by the shape; with
// Write::accumulate it is added to out. Losses stay on their device this way until the step reads them once.
void scaled_sum(const Tensor& values, float scale, const Tensor& out, Write write = Write::overwrite);

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
// per token, most probable first, ties to the lower expert index, chosen on the logits (the same choice on every
// device, where rounded probabilities could tie); gates = their probabilities, divided by their sum when renormalize
// (config router.renorm_topk).
//   logits  (N, E)
//   probs   (N, E)
//   topk    (N, k) i32, 1 <= k <= E
//   gates   (N, k)
// With sums, the same pass also takes what the auxiliary losses read (kernels/router_sums.h), so that they never
// read the (N, E) probabilities or logits again.
struct RouterSums {
  Tensor prob_sums;  // (router_sum_chunks(N), E) f32: each chunk of kRouterSumRows rows' column sums of probs
  Tensor lse;        // (N) f32: logsumexp of each token's logits
};
void router(const Tensor& logits, const Tensor& probs, const Tensor& topk, const Tensor& gates, bool renormalize,
            const RouterSums& sums = {});
// The auxiliary losses' gradients (see load_balance_loss and router_z_loss below), which router_backward adds in its
// own pass over dlogits rather than in a pass each. A term whose tensor is empty is left out.
struct RouterAuxGrads {
  Tensor counts;              // (E) i32: the counts the load-balance loss read
  float load_balance = 0.0f;  // dloss of the load-balance loss
  Tensor lse;                 // (N) f32: RouterSums::lse
  float z = 0.0f;             // dloss of the router z-loss
};
// dlogits (N, E) from, each unless empty: dgates (N, k) (empty: the gates do not depend on the logits, as
// balanced_routing's), dprobs (N, E), and the auxiliary losses' gradients.
void router_backward(const Tensor& probs, const Tensor& topk, const Tensor& gates, const Tensor& dgates,
                     const Tensor& dprobs, const Tensor& dlogits, bool renormalize, Write write,
                     const RouterAuxGrads& aux = {});

// Forced balance, for benchmarks only (Megatron's force load balancing; config parallel.ep_force_balance): the
// logits play no part, topk[t][j] = (t * k + j) mod E and every gate is 1 / k, so each expert receives N * k / E
// rows (exactly when E divides N * k, else the lowest experts one more). The gates do not depend on the logits:
// nothing flows back through them.
//   topk   (N, k) i32, 1 <= k <= E
//   gates  (N, k)
void balanced_routing(std::int64_t experts, const Tensor& topk, const Tensor& gates);

// ---- MoE dispatch / combine -------------------------------------------------------------------------------------
// The N * k (token, choice) copies, copy c = t * k + j, permuted into rows grouped by expert. Experts may receive
// no rows at all; that is normal and reads or writes nothing.
struct RoutePlan {
  Tensor counts;       // (E) i32: rows per expert
  Tensor offsets;      // (E + 1) i32: expert e's rows are [offsets[e], offsets[e + 1])
  Tensor row_of_copy;  // (N, k) i32: the grouped row holding token t's j-th copy
  Tensor copy_of_row;  // (N * k) i32: the copy each grouped row holds
};
// What route_plan does about an expert outside [0, E) in topk.
enum class RouteCheck {
  read_back,     // throws Error on every device (on CUDA after reading a flag back: the one wait for the device
                 // among these ops)
  trust_router,  // topk is ops::router's or balanced_routing's, in range by construction. The CPU still checks (it
                 // costs nothing there); CUDA reads nothing back, so that no MoE layer makes the host wait for the
                 // device, and plans an expert out of range as the nearest one in range: a wrong plan, never an
                 // access outside it
};
// Stable counting sort of the copies in topk (N, k) i32 into plan; E = plan.counts' length.
void route_plan(const Tensor& topk, const RoutePlan& plan, RouteCheck check = RouteCheck::read_back);
// grouped (N * k, C): each row a copy of its token's row of x (N, C).
void dispatch(const Tensor& x, const RoutePlan& plan, const Tensor& grouped);
// dx (N, C) = sum of the token's copies' rows of dgrouped (N * k, C); with Write::accumulate the sum starts from dx.
void dispatch_backward(const Tensor& dgrouped, const RoutePlan& plan, const Tensor& dx,
                       Write write = Write::overwrite);
// out (N, C) = sum_j gates (N, k) [t][j] * expert_out (N * k, C) [row of copy (t, j)]; with Write::accumulate the sum
// starts from out (the residual stream takes the routed experts' output without a tensor of its own).
void combine(const Tensor& expert_out, const Tensor& gates, const RoutePlan& plan, const Tensor& out,
             Write write = Write::overwrite);
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
// The experts' R input rows: a tensor (R, C) of rows grouped by expert (see dispatch), or the token rows (N, C) read
// through a route plan, grouped row r being x[plan.copy_of_row[r] / k]. Reading through the plan is the dispatch
// fused into the experts' loads: no (N * k, C) grouped copy of the tokens is written, kept or read back.
struct ExpertInput {
  ExpertInput(const Tensor& grouped) : x(grouped) {}  // implicit: a tensor of grouped rows is an input as it stands
  static ExpertInput gathered(const Tensor& tokens, const RoutePlan& plan);

  Tensor x;            // (R, C) grouped, or (N, C) tokens
  Tensor copy_of_row;  // empty, or (R) i32: RoutePlan::copy_of_row
  std::int64_t top_k = 1;
};
//   x        R rows of width C, as above
//   offsets  (E + 1) i32, from 0 to R (RoutePlan::offsets)
//   out      (R, C)
void expert_ffn(const ExpertInput& x, const Tensor& offsets, const ExpertWeights& w, const ExpertActivations& saved,
                const Tensor& out);
// dx (R, C), the gradient of the grouped rows, is overwritten; dw (like w) is added to. dgate_work and dup_work
// (R, F) are workspace.
void expert_ffn_backward(const Tensor& dout, const ExpertInput& x, const Tensor& offsets, const ExpertWeights& w,
                         const ExpertActivations& saved, const Tensor& dx, const ExpertWeights& dw,
                         const Tensor& dgate_work, const Tensor& dup_work);

// ---- auxiliary routing losses (EDL.md) --------------------------------------------------------------------------
// Their gradients join the gates' in the router's backward (RouterAuxGrads).
// Load balance, Switch form: E * sum_e f_e P_e, 1 when perfectly balanced; f_e = counts[e] / sum(counts) carries no
// gradient, P_e = mean over tokens of probs[t][e].
//   sums    the router's sums (prob_sums give P; N is the length of lse)
//   counts  (E) i32: routed assignments per expert (RoutePlan::counts; summed over ranks for the global scope)
//   loss    (1) f32 written, or added to with Write::accumulate (the losses stay on their device)
void load_balance_loss(const RouterSums& sums, const Tensor& counts, const Tensor& loss,
                       Write write = Write::overwrite);
// Router z-loss: (1 / N) sum_t logsumexp(logits[t])^2, from the router's lse (N), into loss (1) f32 as above.
void router_z_loss(const Tensor& lse, const Tensor& loss, Write write = Write::overwrite);

// ---- Expert Divergence Loss (model/EDL.md) ----------------------------------------------------------------------
// One MoE layer's L_EDL = mean over pairs of present domains j < k of -log(JSD(r_j, r_k) + eps), where
// q_s = mean router probability over the target-bearing tokens of sequence s and r_j = unweighted mean of q_s over
// the sequences of domain j. It runs in three steps so that the scope is the caller's choice:
//   (a) edl_domain_sums      per rank: sums (M, E) = sum of q_s by domain, counts (M) = sequences by domain
//   (b) edl_loss_from_sums   the loss, the JSD matrix and dsums = d loss / d sums, from (possibly all-reduced) sums
//   (c) edl_backward         dlogits += coef * d loss / d logits for this rank's tokens, from dsums
// micro_batch scope: (a) -> (b) -> (c) in one process (expert_divergence_loss does exactly that).
// global scope: (a) -> allreduce(sums) and allreduce(counts) (sum) over the data-parallel group -> (b) on every rank
// (all get the same loss and dsums) -> (c) on each rank's own tokens. dsums is d loss / d q_s for every sequence of
// domain j wherever it lives, so the ranks' gradients together are the gradient on the concatenated batch.
// Shared arguments:
//   probs    (N, E) the router's dense probabilities, N = S * T: token t of sequence s is row s * T + t
//   mask     (S, T) i32, 1 = target-bearing token (counted in q_s), 0 = not; or empty: every token counts. A sequence
//            without a target-bearing token is an error (its q_s is undefined).
//   domains  (S) i32 domain ids in [0, M); M (the label count) is the first extent of sums
// Fewer than two domains present: loss 0, JSD matrix 0, dsums 0 (never NaN).
void edl_domain_sums(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& sums,
                     const Tensor& counts);
//   sums, counts  from (a): (M, E) and (M) f32
//   jsd           (M, M) written: pairwise JSD of present domains, 0 on the diagonal and for absent domains
//   present       (M) i32 written: 1 when domain j has a sequence; may be empty
//   dsums         (M, E) written: d loss / d sums; may be empty (no backward)
//   loss          (1) f32 written, or added to with Write::accumulate
// On CUDA an invalid batch gives NaN outputs instead of an Error (kernels/cuda/edl.h): nothing is read back.
void edl_loss_from_sums(const Tensor& sums, const Tensor& counts, float eps, const Tensor& jsd, const Tensor& present,
                        const Tensor& dsums, const Tensor& loss, Write write = Write::overwrite);
// dlogits (N, E) += coef * d loss / d logits through the softmax, coef = edl.beta / (number of EDL layers).
void edl_backward(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& dsums, float coef,
                  const Tensor& dlogits);
// The per-layer buffers of the three steps, M = the label count.
struct EdlBuffers {
  Tensor sums;     // (M, E)
  Tensor counts;   // (M)
  Tensor jsd;      // (M, M)
  Tensor present;  // (M) i32, may be empty
  Tensor dsums;    // (M, E)
  Tensor loss;     // (1)
};
// The micro_batch scope in one call: (a) -> (b) -> (c), the loss into buffers.loss; (c) is skipped when dlogits is
// empty.
void expert_divergence_loss(const Tensor& probs, const Tensor& mask, const Tensor& domains, float eps,
                            const EdlBuffers& buffers, float coef, const Tensor& dlogits);

// ---- routing metrics (model/EDL.md "Routing metrics") -----------------------------------------------------------
// Sums over a logging window, added micro-batch after micro-batch (and across ranks with add()), then finalised.
// Host memory in double whatever the backend: (M, 2E + 3) values per layer.
struct RoutingSums {
  RoutingSums(std::int64_t label_count, std::int64_t expert_count);
  std::int64_t labels;
  std::int64_t experts;
  std::vector<double> sequences;    // (M): sequences per domain
  std::vector<double> q_sum;        // (M, E): sum of the sequence means q_s per domain
  std::vector<double> q_log_q;      // (M): sum over the domain's sequences of sum_e q_se log q_se
  std::vector<double> tokens;       // (M): routed tokens per domain (all of them, masked or not)
  std::vector<double> assignments;  // (M, E): top-k assignments per domain and expert

  // Adds another window's or rank's sums (same labels and experts).
  void add(const RoutingSums& other);
};
// Adds one micro-batch of one layer into sums: probs, mask, domains as for EDL (M = sums.labels); topk (N, k) i32 the
// router's choices, or empty (no load or specialisation sums).
void routing_sums_add(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& topk,
                      RoutingSums& sums);
// The same window kept where the router runs, for the training loop: one f64 tensor of routing_window_size(M, E)
// values on the probs' device, the five sums back to back. Micro-batches are added in place, with no copy (on CUDA an
// invalid batch makes the window NaN instead of an Error); routing_window_read brings it to the host only when the
// metrics are wanted.
std::int64_t routing_window_size(std::int64_t labels, std::int64_t experts);
void routing_window_add(const Tensor& probs, const Tensor& mask, const Tensor& domains, const Tensor& topk,
                        const Tensor& window, std::int64_t labels);
RoutingSums routing_window_read(const Tensor& window, std::int64_t labels, std::int64_t experts);
// window = sums (a window restored from a checkpoint).
void routing_window_write(const RoutingSums& sums, const Tensor& window);
struct RoutingMetrics {
  double d_total = 0.0;  // mean_s KL(q_s || q), q = mean of all q_s in the window
  double d_inter = 0.0;  // sum_j w_j KL(r_j || q), w_j = the domain's share of the window's sequences
  double d_intra = 0.0;  // sum_j w_j mean_{s in B_j} KL(q_s || r_j); d_total = d_inter + d_intra
  std::vector<std::int32_t> present;  // (M): 1 when the domain has a sequence in the window
  std::vector<double> jsd;            // (M, M): JSD(r_j, r_k) of present domains, 0 elsewhere
  double jsd_mean = 0.0;              // over present pairs j < k; 0 with fewer than two domains
  std::vector<double> load_share;     // (E): share of the window's routed assignments per expert
  double load_cv = 0.0;               // coefficient of variation (population std / mean) of the assignments
  double load_max_over_mean = 0.0;    // busiest expert's assignments over the mean
  std::int64_t dead_experts = 0;      // experts with no assignment
  std::vector<double> domain_share;   // (E, M): expert e's assignments from domain j / domain j's tokens, rows
                                      // normalised to sum 1 (all 0 for an expert with no assignment)
  double specialised_fraction = 0.0;  // experts whose largest domain share exceeds 0.5, over all E
};
// The window's metrics; all zeros for an empty window, load metrics zeros without top-k sums.
RoutingMetrics routing_metrics(const RoutingSums& sums);

// ---- optimizer --------------------------------------------------------------------------------------------------
struct AdamWHyper {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
  std::int64_t step = 1;   // 1 for the first update
  float grad_scale = 1.0f;  // the gradients are read as grads * grad_scale (the mean over contributions and the clip)
};
// One AdamW update (decoupled weight decay, bias correction, as torch.optim.AdamW) over a flat block; parameters
// that take no weight decay are a separate slice updated with weight_decay = 0.
//   params, grads, m, v  (P), all one shape; params, m, v updated
void adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v, const AdamWHyper& h);
// sum of squares of grads (any shape), deterministic; distributed runs all-reduce it before taking the root.
double sum_of_squares(const Tensor& grads);
// The same for several f32 tensors on one device, each summed alone (the same bits as sum_of_squares), read back
// together: one wait for the device.
std::vector<double> sums_of_squares(std::span<const Tensor> parts);
// Scales grads (any shape) so their global norm is at most max_norm; returns the norm before clipping.
float clip_grad_norm(const Tensor& grads, float max_norm);

}  // namespace diverge::ops
