// The EDL domain id of each row of a training batch: where the data's label systems meet the model's EDL term.
#pragma once

#include <cstdint>
#include <vector>

#include "data/loader/batch.h"
#include "engine/config/sections.h"

namespace diverge {

// The EDL domain id of each row of batch (rows), in [0, M), for the system `edl.labels` names:
// - a label system: batch.domain[edl.labels], checked to lie in [0, label_count);
// - "random": hash(edl.random_seed, stream, stream_sample) mod label_count: the same sample always gets the same
//   group, whatever the batch, rank or restart, so it is a fixed random partition of the corpus's samples;
// - "sequence": the row index.
std::vector<std::int32_t> edl_labels(const config::EdlConfig& edl, std::int64_t label_count, const data::Batch& batch);

}  // namespace diverge
