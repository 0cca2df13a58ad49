// Checks a checkpoint file's tensors against the set the config expects, and names AdamW's state tensors.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/safetensors_reader.h"
#include "engine/checkpoint/tensor_spec.h"

namespace diverge {

// The file must hold exactly the expected tensors, each with the expected dtype and shape. Error at `where`
// naming the first mismatch in the expected order, then any tensor the config does not know, e.g.
// "checkpoint step-000100: model.layers.3.self_attn.q_proj.weight: shape [256,256] in file, [512,256] expected by
// the config".
void check_tensors_match(const SafetensorsFile& file, std::span<const TensorSpec> expected, std::string_view where);
// The same over several files together (a checkpoint's expert shards): each expected tensor in exactly one of them.
void check_tensors_match(std::span<const SafetensorsFile* const> files, std::span<const TensorSpec> expected,
                         std::string_view where);

// AdamW's first and second moments of a parameter, as optimizer.safetensors names them.
std::string exp_avg_name(std::string_view param);     // "<param>.exp_avg"
std::string exp_avg_sq_name(std::string_view param);  // "<param>.exp_avg_sq"

// The optimizer tensors AdamW keeps for these parameters: both moments of each, fp32, the parameter's shape.
std::vector<TensorSpec> adamw_state_specs(std::span<const TensorSpec> params);

}  // namespace diverge
