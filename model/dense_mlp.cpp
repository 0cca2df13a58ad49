// SwiGLU FFN forward and backward over all tokens: three matmuls around the swiglu op.
#include "model/dense_mlp.h"

namespace diverge::model {

using ops::Write;

FfnActs allocate_ffn(Buffers& buffers, std::int64_t tokens, std::int64_t hidden) {
  return {buffers.act({tokens, hidden}), buffers.act({tokens, hidden}), buffers.act({tokens, hidden})};
}

FfnScratch allocate_ffn_scratch(Buffers& buffers, std::int64_t tokens, std::int64_t hidden) {
  return {buffers.act({tokens, hidden}), buffers.act({tokens, hidden}), buffers.act({tokens, hidden})};
}

void ffn_hidden_forward(const Tensor& h, const FfnWeights& w, const FfnActs& acts) {
  ops::matmul(h, w.gate, acts.gate, false, true);
  ops::matmul(h, w.up, acts.up, false, true);
  ops::swiglu(acts.gate, acts.up, acts.hidden);
}

void ffn_output_forward(const FfnWeights& w, const FfnActs& acts, const Tensor& out) {
  ops::matmul(acts.hidden, w.down, out, false, true, Write::accumulate);
}

void ffn_forward(const Tensor& h, const FfnWeights& w, const FfnActs& acts, const Tensor& out) {
  ffn_hidden_forward(h, w, acts);
  ffn_output_forward(w, acts, out);
}

void ffn_weights_backward(const Tensor& dout, const Tensor& h, const FfnWeights& w, const FfnWeights& dw,
                          const FfnActs& acts, const FfnScratch& scratch) {
  ops::matmul_backward(dout, acts.hidden, w.down, scratch.dhidden, dw.down, false, true, Write::overwrite,
                       Write::accumulate);
  ops::swiglu_backward(scratch.dhidden, acts.gate, acts.up, scratch.dgate, scratch.dup);
  ops::matmul_backward(scratch.dgate, h, w.gate, {}, dw.gate, false, true, Write::overwrite, Write::accumulate);
  ops::matmul_backward(scratch.dup, h, w.up, {}, dw.up, false, true, Write::overwrite, Write::accumulate);
}

void ffn_input_backward(const Tensor& h, const FfnWeights& w, const FfnScratch& scratch, const Tensor& dh,
                        Write write_dh) {
  ops::matmul_backward(scratch.dgate, h, w.gate, dh, {}, false, true, write_dh, Write::overwrite);
  ops::matmul_backward(scratch.dup, h, w.up, dh, {}, false, true, Write::accumulate, Write::overwrite);
}

void ffn_backward(const Tensor& dout, const Tensor& h, const FfnWeights& w, const FfnWeights& dw, const FfnActs& acts,
                  const FfnScratch& scratch, const Tensor& dh, Write write_dh) {
  ffn_weights_backward(dout, h, w, dw, acts, scratch);
  ffn_input_backward(h, w, scratch, dh, write_dh);
}

}  // namespace diverge::model
