// The run directory (train.out_dir) held by one training process: no fresh start over a run, replaced runs
// archived, one process at a time.
#pragma once

#include <filesystem>
#include <string>

#include "engine/config/config.h"

namespace diverge {

namespace fs = std::filesystem;

// How a run starts in its directory: `fresh` refuses a directory that already holds a run, `resume` continues
// whatever is there (train.resume), `overwrite` archives the old run's logs and deletes its checkpoints first.
enum class RunStart { fresh, resume, overwrite };

// Whether the run directory of config already holds a run: a non-empty metrics log or a complete checkpoint.
// A resolved config.json or a lock file alone is not a run (a start that failed its checks leaves those).
bool holds_run(const config::Config& config);

// Created before the run writes anything. Takes an exclusive lock on <out_dir>/.lock for its lifetime (Error
// naming the other process when one holds it: two trainers in one directory would corrupt each other's
// checkpoints), then applies `start`:
// - fresh over holds_run(): Error naming --resume auto, another --out, and --overwrite;
// - overwrite: moves the metrics log (and its superseded records) and config.json into
//   <out_dir>/replaced-<UTC time>/, removes <out_dir>/checkpoints, and says so on stdout unless quiet.
class RunDirectory {
 public:
  RunDirectory(const config::Config& config, RunStart start);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

 private:
  int lock_fd_ = -1;
};

}  // namespace diverge
