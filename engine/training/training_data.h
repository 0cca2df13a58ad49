// The corpus a training run reads: its manifest found from data.corpus, its shards opened, its label systems.
#pragma once

#include <string>

#include "data/loader/labelled_corpus.h"
#include "data/shard/manifest.h"
#include "engine/config/config.h"

namespace diverge {

struct TrainingData {
  data::Manifest manifest;
  data::LabelledCorpus corpus;
  std::string val_label_system;  // data.val_label_system, or the coarsest system (fewest labels) when unset
};

// Opens config.data.corpus (a manifest file or its directory) and checks it against the config: a tokenizer
// vocabulary that fits model.vocab_size, a known val_label_system with val shards. A missing corpus is an Error
// that says how to make one (`diverge prepare ...`, or launch/run-demo.sh for the bundled one).
TrainingData open_training_data(const config::Config& config);

// model.vocab_size taken from the corpus's tokenizer when it is 0; Error when it is set and too small for it.
void resolve_vocab_size(config::ModelConfig& model, const data::Manifest& manifest);

}  // namespace diverge
