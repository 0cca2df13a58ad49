// Helpers for tests that train under mpirun: a micro run cut over ranks, and its records and weights against another.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace diverge::test {

namespace fs = std::filesystem;

// The loader's global sample order depends neither on the micro-batch nor on the rank count, so np ranks with
// micro-batch B and no accumulation read, in one step, the samples that one process reads with micro-batch B and
// grad_accum = np (rank i's rows are its micro-batch i), or with micro-batch np * B in one pass.
constexpr std::int64_t kMpiSteps = 4;

// The micro config of kMpiSteps steps over a synthetic corpus, both written under dir: the config's path.
fs::path write_mpi_micro_config(const fs::path& dir);

// Expert parallelism groups an expert's weight-gradient sum differently from one process: a rank's experts take
// the rows of every rank of its group in one product. Where few rows reach an expert, entries of its gradient are
// ~1e-9, below AdamW's eps (1e-8), and there the update is lr * g / eps: the rounding of g itself (~1e-12) moves such
// a weight by up to 9e-6 at lr 1e-2 (measured at ep 4 on the CPU; every other tensor within 2e-7). So runs compared
// across such cuts take eps 1e-5, under which the update follows g / (|g| + eps) smoothly; then every weight agrees
// within 2e-7 and losses and gradient norms within 1e-7 relative, as under data parallelism, and 1e-6 keeps that
// margin. A dropped or doubled expert gradient moves the experts' weights by ~lr.
constexpr const char* kSmoothAdam = " --set optim.eps=1e-5";

// How far two cuts of the same training may drift apart through rounding alone.
struct Tolerance {
  double losses = 0.0;   // relative, per logged loss and gradient norm
  double weights = 0.0;  // absolute, per weight (the micro model's weights are ~0.02 to 1)
};

// How a run cuts each step's global batch: rows per micro-batch and rank, micro-batches per rank; more settings.
struct Cut {
  std::int64_t micro_batch = 2;
  std::int64_t grad_accum = 1;
  std::string settings;
};

std::string train_args(const fs::path& config, const fs::path& out, const Cut& cut);

// Every parameter of a checkpoint, from whichever of its files holds it (expert shards included).
std::map<std::string, std::vector<float>> checkpoint_weights(const fs::path& dir);

// The largest |a - b| over every tensor of two checkpoints (the same names and shapes in both, however stored).
double max_weight_difference(const fs::path& dir_a, const fs::path& dir_b);

fs::path newest_checkpoint(const fs::path& run);

// The tensor files of a run's newest checkpoint: their hashes and sizes as state.json records them.
nlohmann::json checkpoint_files(const fs::path& run);

double relative_difference(const nlohmann::json& a, const nlohmann::json& b, const char* key);

// The training records of a run (evals left out), without their timing fields.
std::vector<nlohmann::json> step_records(const fs::path& run);

// Checks that `run` logs the same `keys` as `reference`, step by step, and ends at its weights, within tolerance.
void check_same_records(const fs::path& run, const fs::path& reference, std::initializer_list<const char*> keys,
                        const Tolerance& tolerance);

// ZeRO-1 against whole moments: every record of run's metrics.jsonl equal to reference's bit for bit, but the
// gradient norm, which a sharded run sums from each rank's slices (reduce-scattered) and then over the ranks: the same
// squares added in another order in double, within 1e-12 relative.
void check_same_records_but_norm_order(const fs::path& run, const fs::path& reference);

// Runs the micro config at `ranks` ranks cut as `parallel` and as one process cut as `single`, in dir/np<ranks> and
// dir/single, and checks that they log the same `keys` and reach the same weights, within tolerance.
void check_same_training(const fs::path& dir, int ranks, const Cut& parallel, const Cut& single,
                         std::initializer_list<const char*> keys, const Tolerance& tolerance);

}  // namespace diverge::test
