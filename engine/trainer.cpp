// The training loop: one optimizer step over grad_accum micro-batches, logging, evals, checkpoints, resume.
#include "engine/trainer.h"

#include <chrono>
#include <cstdio>
#include <memory>

#include "data/loader/train_loader.h"
#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/comm/comm.h"
#include "engine/compute_threads.h"
#include "engine/error.h"
#include "engine/config/model_size.h"
#include "engine/error.h"
#include "engine/evaluator.h"
#include "engine/optimizer_step.h"
#include "engine/run_report.h"
#include "engine/schedule.h"
#include "engine/train_checkpoint.h"
#include "engine/training_data.h"
#include "model/edl_term.h"
#include "model/routing_monitor.h"
#include "model/step_buffers.h"
#include "model/transformer.h"

namespace diverge {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Settings the config accepts that this trainer cannot honour yet are refused rather than ignored.
void check_supported(const config::Config& config) {
  check(config.train.device == config::Device::kCpu, "train.device",
        "'cuda' training is not available yet; set train.device=cpu");
}

// The config with everything taken from the corpus filled in (model.vocab_size), validated again.
config::Config resolve_config(const config::Config& config, const data::Manifest& manifest) {
  check_supported(config);
  config::Config resolved = config;
  resolve_vocab_size(resolved.model, manifest);
  resolved.validate("config");
  return resolved;
}

data::LoaderConfig loader_config(const config::Config& config, const Comm& comm) {
  return {.batch_size = config.data.micro_batch,
          .seq_len = config.data.seq_len,
          .seed = config.train.seed,
          .rank = comm.rank(),
          .world = comm.size(),
          .weights = config.data.weights};
}

bool every(std::int64_t step, std::int64_t interval) { return interval > 0 && step % interval == 0; }

// M of the labels EDL groups sequences by: a corpus label system's label count; for the random control the coarsest
// system's, so the control has as many groups as the real domains; unused for per-sequence labels.
std::int64_t edl_label_count(const config::EdlConfig& edl, const TrainingData& data) {
  if (edl.labels == model::kSequenceLabels) return 0;
  if (edl.labels == model::kRandomLabels)
    return static_cast<std::int64_t>(data.corpus.labels_of(data.val_label_system).size());
  check(data.corpus.has_label_system(edl.labels), "edl.labels",
        "the corpus has no label system '" + edl.labels + "' (it has: " +
            data::comma_list(data.corpus.label_systems()) + "; or use random / sequence)");
  return static_cast<std::int64_t>(data.corpus.labels_of(edl.labels).size());
}

class TrainingRun {
 public:
  TrainingRun(const config::Config& config, const TrainOptions& options)
      : threads_(set_compute_threads(config.train.threads)),
        data_(open_training_data(config)),
        config_(resolve_config(config, data_.manifest)),
        options_(options),
        comm_(make_single_process_comm()),
        model_(config_.model, config_.loss, config_.data.micro_batch, config_.data.seq_len, config_.train.seed),
        optimizer_(config_.optim, model_.layout().block_elements(), model_.layout().decay_elements()),
        loader_(data_.corpus, loader_config(config_, *comm_)),
        schedule_(config_.optim, config_.train.steps),
        edl_(config_.edl, config_.model, edl_label_count(config_.edl, data_)),
        monitor_(config_.model, static_cast<std::int64_t>(data_.corpus.labels_of(data_.val_label_system).size())),
        root_(checkpoints_root(config_)) {
    if (config_.data.val_every > 0)
      evaluator_ = std::make_unique<Evaluator>(data_.corpus, data_.val_label_system, config_.data.micro_batch,
                                               config_.data.seq_len, config_.data.val_batches);
    facts_ = run_facts();
  }

  TrainSummary run() {
    std::filesystem::create_directories(config_.train.out_dir);
    config_.save_resolved(std::filesystem::path(config_.train.out_dir) / "config.json");
    remove_stale_temporaries(root_);
    if (!config_.log.quiet) print_run_plan(config_, facts_);
    resume();
    MetricsLog log(config_.metrics_path(), progress_.step);

    const std::int64_t last =
        options_.stop_after > 0 ? std::min(options_.stop_after, config_.train.steps) : config_.train.steps;
    const std::int64_t first = progress_.step + 1;
    auto start = Clock::now();
    for (std::int64_t step = first; step <= last; ++step) {
      auto step_start = Clock::now();
      StepRecord record = optimizer_step(step);
      double step_seconds = seconds_since(step_start);
      record.tokens_per_s = static_cast<double>(facts_.tokens_per_step) / step_seconds;
      record.elapsed_s = seconds_since(start);
      if (step == first && !config_.log.quiet)
        print_activation_peak(facts_.memory.activations, model_.activation_arena().peak());
      // Lines, records and evals follow the schedule's steps, not where this process stops: an interrupted and
      // resumed run logs exactly what an uninterrupted one does.
      const bool final_step = step == config_.train.steps;
      if (every(step, config_.log.every) || final_step) {
        model::RoutingReport routing = monitor_.finish();
        record.routing = std::move(routing.json);
        record.routing_summary = std::move(routing.summary);
        log.write(record.to_json());
        double eta = record.elapsed_s / static_cast<double>(step - first + 1) * static_cast<double>(last - step);
        print(format_step_line(record, config_.train.steps, eta));
      }
      if (evaluator_ && (every(step, config_.data.val_every) || final_step)) {
        EvalRecord eval = evaluator_->run(model_, step, progress_.tokens);
        log.write(eval.to_json());
        print(format_eval_line(eval));
      }
      if (every(step, config_.train.checkpoint_every) || step == last) save();
    }
    if (!config_.log.quiet)
      print_run_end(progress_.step, std::max<std::int64_t>(0, last - first + 1), seconds_since(start), facts_,
                    config_.metrics_path(), checkpoint_);
    return {progress_.step, progress_.tokens, config_.metrics_path(), checkpoint_};
  }

 private:
  RunFacts run_facts() const {
    RunFacts facts;
    facts.total_params = model_.layout().total_parameters();
    facts.active_params = model_.layout().active_parameters();
    facts.flops_per_token = config::training_flops_per_token(config_.model, config_.data.seq_len);
    facts.tokens_per_step = config_.data.micro_batch * config_.data.seq_len * config_.data.grad_accum * comm_->size();
    facts.threads = threads_;
    facts.comm = comm_->describe();
    facts.corpus = data_.manifest.file.string();
    facts.memory = {
        .params = model_.params().bytes(),
        .grads = model_.grads().bytes(),
        .optimizer = optimizer_.arena().capacity(),
        .activations = model::activation_bytes(config_.model, config_.data.micro_batch, config_.data.seq_len)};
    return facts;
  }

  void resume() {
    auto dir = resolve_resume(root_, config_.train.resume);
    if (!dir) {
      print(config_.train.resume.empty() ? "start: fresh run" : "start: fresh run (no checkpoint to resume from)");
      return;
    }
    auto resumed = load_training_checkpoint(*dir, config_, model_.layout(), model_.params(), optimizer_);
    progress_ = resumed.progress;
    loader_.restore(progress_.loader);
    checkpoint_ = *dir;
    std::string line = "start: resumed from " + dir->string() + " at step " + std::to_string(progress_.step);
    if (!resumed.changed_keys.empty()) line += " (config changed: " + data::comma_list(resumed.changed_keys) + ")";
    print(line);
  }

  // grad_accum micro-batches forward and backward (gradients add up), then the optimizer update.
  StepRecord optimizer_step(std::int64_t step) {
    const std::int64_t micro_batches = config_.data.grad_accum;
    LossParts sum;
    for (std::int64_t i = 0; i < micro_batches; ++i) {
      data::Batch batch = loader_.next_batch();
      Tensor tokens = make_view(batch.tokens.data(), DType::i32, Device::cpu, {batch.rows, batch.row_len});
      model::Losses losses = model_.forward(tokens).losses;
      const double l_edl = edl_.forward(model_, edl_.labels(batch), *comm_);
      monitor_.add(model_, batch.domain.at(data_.val_label_system));
      monitor_.record_edl(edl_);
      model_.backward(edl_.hook());
      sum.total += losses.total + edl_.weighted(static_cast<float>(l_edl));
      sum.lm += losses.lm;
      sum.lb += losses.lb;
      sum.z += losses.z;
      sum.edl += l_edl;
    }
    const double lr = schedule_.at(step);
    const double norm = optimizer_.apply(*comm_, model_.params(), model_.grads(), micro_batches, lr, step);
    progress_.step = step;
    progress_.tokens += facts_.tokens_per_step;

    const auto n = static_cast<double>(micro_batches);
    StepRecord record;
    record.step = step;
    record.tokens = progress_.tokens;
    record.loss = {.total = sum.total / n, .lm = sum.lm / n, .lb = sum.lb / n, .z = sum.z / n, .edl = sum.edl / n};
    record.grad_norm = norm;
    record.lr = lr;
    return record;
  }

  void save() {
    progress_.loader = loader_.state();
    checkpoint_ = save_training_checkpoint(root_, config_, model_.layout(), model_.params(), optimizer_, progress_);
  }

  void print(const std::string& line) const {
    if (config_.log.quiet) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  int threads_;
  TrainingData data_;
  config::Config config_;
  TrainOptions options_;
  std::unique_ptr<Comm> comm_;
  model::Transformer model_;
  OptimizerStep optimizer_;
  data::TrainLoader loader_;
  LrSchedule schedule_;
  model::EdlTerm edl_;
  model::RoutingMonitor monitor_;  // routing metrics in the val label system (the coarsest by default)
  std::filesystem::path root_;
  std::unique_ptr<Evaluator> evaluator_;
  RunFacts facts_;
  TrainProgress progress_;
  std::optional<std::filesystem::path> checkpoint_;
};

}  // namespace

TrainSummary train(const config::Config& config, const TrainOptions& options) {
  return TrainingRun(config, options).run();
}

}  // namespace diverge
