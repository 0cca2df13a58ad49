// Every activation buffer of one training step, and the planning pass that sizes the activation arena exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/buffers.h"
#include "engine/config/sections.h"
#include "model/attention_block.h"
#include "model/dense_mlp.h"
#include "model/dims.h"
#include "model/lm_head.h"
#include "model/moe_layer.h"
#include "model/residual.h"

namespace diverge::model {

struct LayerActs {
  AttentionActs attention;
  Tensor x_mid;       // (N, C): the stream after attention
  NormActs mlp_norm;  // post_attention_layernorm
  FfnActs dense;      // dense layers only
  MoeActs moe;        // MoE layers only
  Tensor x_out;       // (N, C): the stream after the MLP
};

// Saved by the forward pass (and read by the backward pass).
struct ForwardActs {
  Tensor inputs;    // (B, T) i32: token columns 0..T-1
  Tensor targets;   // (B, T) i32: token columns 1..T
  Tensor embedded;  // (N, C): the stream entering layer 0
  std::vector<LayerActs> layers;
  NormActs final_norm;  // model.norm
  LmHeadActs head;      // a chunk of logits (R, V), lse and row losses (N)
};

// Backward workspace, allocated after ForwardActs and shared by every layer.
struct BackwardScratch {
  Tensor stream_grad;  // (N, C): d loss / d residual stream, updated in place from the top layer down
  SublayerScratch sublayer;
  AttentionScratch attention;
  FfnScratch dense;  // (N, Fd) each; empty without dense layers
  MoeScratch moe;
};

// logit_rows: R, the LM head's rows per chunk (logit_chunk_rows).
ForwardActs allocate_forward(Buffers& buffers, const Dims& d, bool qk_norm, std::int64_t logit_rows);
BackwardScratch allocate_backward(Buffers& buffers, const Dims& d, bool qk_norm);

// What one forward and backward pass of a micro-batch takes, exactly.
struct StepBytes {
  std::size_t activations = 0;  // the activation arena, on the model's device
  std::size_t host = 0;         // the host arena beside it where that device is not the host (exchange counts)
};

StepBytes step_bytes(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq, Device device,
                     std::int64_t logit_chunk, const ExpertParallel& ep = {});

// The exact activation arena bytes of one forward and backward pass of a (batch, seq) micro-batch on device, with
// the LM head's chunk from train.logit_chunk (0: automatic), under expert parallelism ep (its exchange buffers).
std::size_t activation_bytes(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq, Device device,
                             std::int64_t logit_chunk, const ExpertParallel& ep = {});

}  // namespace diverge::model
