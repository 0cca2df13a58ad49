// Allocation of one step's activations and backward workspace, in a fixed order shared by planning and training.
#include "model/step_buffers.h"

namespace diverge::model {

ForwardActs allocate_forward(Buffers& buffers, const Dims& d, bool qk_norm, std::int64_t logit_rows) {
  ForwardActs a;
  a.inputs = buffers.i32({d.batch, d.seq});
  a.targets = buffers.i32({d.batch, d.seq});
  a.embedded = buffers.act({d.tokens, d.model});
  for (std::int64_t l = 0; l < d.layers; ++l) {
    LayerActs& layer = a.layers.emplace_back();
    layer.attention = allocate_attention(buffers, d, qk_norm);
    layer.x_mid = buffers.act({d.tokens, d.model});
    layer.mlp_norm = allocate_norm(buffers, d);
    if (d.is_moe(l)) {
      layer.moe = allocate_moe(buffers, d);
    } else {
      layer.dense = allocate_ffn(buffers, d.tokens, d.dense_hidden);
    }
    layer.x_out = buffers.act({d.tokens, d.model});
  }
  a.final_norm = allocate_norm(buffers, d);
  a.head = allocate_lm_head(buffers, d.tokens, d.vocab, logit_rows);
  return a;
}

BackwardScratch allocate_backward(Buffers& buffers, const Dims& d, bool qk_norm) {
  BackwardScratch s;
  s.stream_grad = buffers.act({d.tokens, d.model});
  s.sublayer = allocate_sublayer_scratch(buffers, d);
  s.attention = allocate_attention_scratch(buffers, d, qk_norm);
  if (d.first_dense > 0) s.dense = allocate_ffn_scratch(buffers, d.tokens, d.dense_hidden);
  s.moe = allocate_moe_scratch(buffers, d);
  return s;
}

StepBytes step_bytes(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq, Device device,
                     std::int64_t logit_chunk, const ExpertParallel& ep) {
  const Dims d = make_dims(config, batch, seq, ep);
  Buffers count(device);
  allocate_forward(count, d, config.qk_norm, logit_chunk_rows(logit_chunk, d.tokens, d.vocab));
  allocate_backward(count, d, config.qk_norm);
  return {count.bytes(), count.host_bytes()};
}

std::size_t activation_bytes(const config::ModelConfig& config, std::int64_t batch, std::int64_t seq, Device device,
                             std::int64_t logit_chunk, const ExpertParallel& ep) {
  return step_bytes(config, batch, seq, device, logit_chunk, ep).activations;
}

}  // namespace diverge::model
