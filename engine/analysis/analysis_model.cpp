// Opening a checkpoint for analysis: its saved config, the corpus, a model of that shape with its parameters.
#include "engine/analysis/analysis_model.h"

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/error.h"
#include "engine/training/train_checkpoint.h"

namespace diverge::analysis {

namespace {

fs::path checkpoint_directory(const fs::path& given) {
  check(fs::is_directory(given), "--checkpoint", "'" + given.string() + "' is not a directory");
  if (fs::exists(given / kLatestFile)) {
    auto latest = read_latest(given);
    if (latest) return *latest;
  }
  return given;
}

}  // namespace

AnalysisModel open_analysis_model(const fs::path& checkpoint, const std::string& corpus) {
  const fs::path dir = checkpoint_directory(checkpoint);
  const LoadedCheckpoint loaded = load_checkpoint(dir);
  auto config = config::Config::from_json(config::Json::parse(loaded.state.config.dump()), loaded.label() + " config");
  if (!corpus.empty()) config.data.corpus = corpus;
  TrainingData data = open_training_data(config);
  resolve_vocab_size(config.model, data.manifest);
  auto model = std::make_unique<model::Transformer>(config.model, config.loss, config.data.micro_batch,
                                                    config.data.seq_len, config.train.seed);
  load_checkpoint_parameters(dir, model->layout(), model->params());
  return {dir, loaded.state.step, std::move(config), std::move(data), std::move(model)};
}

}  // namespace diverge::analysis
