// Helpers for the trainer tests: a small synthetic corpus on disk, a micro config, reading a run's records and weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace diverge::test {

namespace fs = std::filesystem;

// Writes a corpus of two coarse domains under dir (shards + manifest.json): vocabulary 64, end-of-document 0,
// documents drawn from one fixed generator with a different learnable pattern per domain, train and val splits.
// Returns the manifest path.
fs::path write_synthetic_corpus(const fs::path& dir);

// A micro model (d 32, 2 layers, 4 experts top-2) training for `steps` steps on corpus, writing to out_dir, quiet,
// one thread, logging every step, evaluating every 4 steps and checkpointing every 4 steps. Written to file.
void write_micro_config(const fs::path& file, const fs::path& corpus, const fs::path& out_dir, std::int64_t steps);

// The records of a metrics log without their timing fields (tokens_per_s, elapsed_s): what must match exactly
// between two runs of one config.
std::vector<nlohmann::json> deterministic_records(const fs::path& metrics);

// The highest step of a metrics log's train records (0 when there are none or no log exists yet).
std::int64_t last_logged_step(const fs::path& metrics);

// Whether every float of every tensor of a checkpoint directory's model and optimizer files (expert shards too) is
// finite.
bool checkpoint_is_finite(const fs::path& dir);

// The content hash of the parameters in the newest checkpoint of a run directory: equal hashes mean bit-identical
// weights. Error when the run has no checkpoint.
std::string final_model_hash(const fs::path& run);

}  // namespace diverge::test
