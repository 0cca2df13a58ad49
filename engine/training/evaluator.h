// Validation: the mean LM loss of each domain of one label system over a fixed set of its val samples.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/loader/labelled_corpus.h"
#include "data/loader/val_reader.h"
#include "engine/training/metrics.h"
#include "model/transformer.h"

namespace diverge {

class Evaluator {
 public:
  // One reader per label of label_system that has val shards (in label-id order), batch rows at a time, up to
  // max_batches batches each: the same samples at every evaluation, so the losses compare across steps. Error when
  // no label of the system has val shards.
  Evaluator(const data::LabelledCorpus& corpus, const std::string& label_system, std::int64_t batch,
            std::int64_t seq_len, std::int64_t max_batches);

  // The per-domain mean loss per token under the model's current parameters; training state is not touched.
  EvalRecord run(model::Transformer& model, std::int64_t step, std::int64_t tokens);

  const std::string& label_system() const { return label_system_; }

 private:
  struct Domain {
    std::string label;
    std::unique_ptr<data::ValReader> reader;
  };
  std::string label_system_;
  std::int64_t max_batches_;
  std::vector<Domain> domains_;  // (labels with val data)
};

}  // namespace diverge
