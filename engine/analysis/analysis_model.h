// The model under analysis: a checkpoint's resolved config and parameters, and the corpus it was trained on.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "engine/config/config.h"
#include "engine/training/training_data.h"
#include "model/transformer.h"

namespace diverge::analysis {

namespace fs = std::filesystem;

struct AnalysisModel {
  fs::path checkpoint;  // the step-NNNNNN directory read
  std::int64_t step = 0;
  config::Config config;  // as resolved by the run that saved the checkpoint (data.corpus possibly replaced)
  TrainingData data;
  std::unique_ptr<model::Transformer> model;
};

// checkpoint: a step-NNNNNN directory, or a checkpoints directory whose `latest` names one. corpus replaces the
// saved data.corpus when not empty. Error naming the checkpoint or corpus when either cannot be read or disagrees.
AnalysisModel open_analysis_model(const fs::path& checkpoint, const std::string& corpus);

}  // namespace diverge::analysis
