// Typed views of the parameter (or gradient) block, one struct per block of the model.
#pragma once

#include <vector>

#include "kernels/ops.h"
#include "model/param_layout.h"

namespace diverge::model {

// A SwiGLU FFN's three matrices: gate, up (F, C) and down (C, F). All empty when the layer has none.
struct FfnWeights {
  Tensor gate;
  Tensor up;
  Tensor down;
  bool present() const { return !gate.empty(); }
};

struct AttentionWeights {
  Tensor input_norm;  // (C)
  Tensor q;           // (H*D, C)
  Tensor k;           // (Hkv*D, C)
  Tensor v;           // (Hkv*D, C)
  Tensor o;           // (C, H*D)
  Tensor q_norm;      // (D), empty without qk_norm
  Tensor k_norm;      // (D), empty without qk_norm
};

struct MoeWeights {
  Tensor router;               // (E, C)
  ops::ExpertWeights experts;  // stacked (E, F, C), (E, F, C), (E, C, F)
  FfnWeights shared;           // (Fs, C), (Fs, C), (C, Fs), empty without shared experts
};

struct LayerWeights {
  AttentionWeights attention;
  Tensor post_norm;  // (C)
  FfnWeights dense;  // dense layers only
  MoeWeights moe;    // MoE layers only (router empty in dense layers)
};

struct ModelWeights {
  Tensor embed;  // (V, C)
  std::vector<LayerWeights> layers;
  Tensor final_norm;  // (C)
  Tensor lm_head;     // (V, C), the embedding itself when tied
};

// Views of block (P) laid out by layout: call it on the parameters and on the gradients alike.
ModelWeights bind_weights(const ParamLayout& layout, const Tensor& block, std::int64_t n_layers);

}  // namespace diverge::model
