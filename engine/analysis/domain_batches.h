// The held-out rows an analysis evaluates: a fixed number of val batches of every domain of one label system.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/loader/batch.h"
#include "data/loader/labelled_corpus.h"

namespace diverge::analysis {

// One domain's rows; its position in the list is its domain id in every analysis matrix.
struct DomainBatches {
  std::string label;
  std::vector<data::Batch> batches;
};

// The labels of label_system with val shards, in label-id order, each with up to max_batches batches of `batch`
// rows of seq_len + 1 tokens, read once so that every pass sees the same rows. Error when no label has val data.
std::vector<DomainBatches> read_val_batches(const data::LabelledCorpus& corpus, const std::string& label_system,
                                            std::int64_t batch, std::int64_t seq_len, std::int64_t max_batches);

std::vector<std::string> domain_labels(const std::vector<DomainBatches>& domains);

}  // namespace diverge::analysis
