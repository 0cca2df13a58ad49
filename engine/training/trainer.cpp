// The training loop: one optimizer step over grad_accum micro-batches, the non-finite guard, logging, evals,
// checkpoints, preemption, resume; data-parallel over the ranks of the world, rank 0 speaking for all.
#include "engine/training/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>

#include "data/loader/train_loader.h"
#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/comm/collective_watchdog.h"
#include "engine/comm/comm.h"
#include "engine/comm/process_groups.h"
#include "engine/compute_threads.h"
#include "engine/config/model_size.h"
#include "engine/error.h"
#include "engine/training/evaluator.h"
#include "engine/training/nonfinite_guard.h"
#include "engine/training/optimizer_step.h"
#include "engine/training/run_directory.h"
#include "engine/training/run_preflight.h"
#include "engine/training/run_report.h"
#include "engine/training/run_timing.h"
#include "engine/training/schedule.h"
#include "engine/training/step_compute.h"
#include "engine/training/step_agreement.h"
#include "engine/training/stop_signals.h"
#include "engine/training/train_checkpoint.h"
#include "kernels/ops.h"
#include "model/edl_term.h"
#include "model/routing_monitor.h"
#include "model/transformer.h"

namespace diverge {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

bool every(std::int64_t step, std::int64_t interval) { return interval > 0 && step % interval == 0; }

RunStart run_start(const config::Config& config, const TrainOptions& options) {
  if (options.overwrite) return RunStart::overwrite;
  return config.train.resume.empty() ? RunStart::fresh : RunStart::resume;
}

// Under ZeRO-1 the moments of the experts shard over the ranks holding them, the rest over every rank.
StateSharding state_sharding(const config::Config& config, const ProcessGroups& groups,
                             const model::ParamLayout& layout) {
  if (config.parallel.zero == 0) return {};
  return {&groups.edp(), &groups.dp(), layout.sharded_elements(),
          run_masters(config) == model::Masters::with_optimizer};
}

// The run directory is rank 0's: it alone checks, locks and writes it.
std::optional<RunDirectory> lead_run_directory(const config::Config& config, RunStart start, bool lead) {
  if (!lead) return std::nullopt;
  return std::optional<RunDirectory>(std::in_place, config, start);
}

// A step after its micro-batches, before the update: the record to log and the gradients' reduction.
struct StepResult {
  StepRecord record;
  ReducedGradients gradients;
};

class TrainingRun {
 public:
  TrainingRun(const config::Config& config, const TrainOptions& options)
      : threads_(set_compute_threads(config.train.threads)),
        inputs_(open_run_inputs(config)),
        groups_(open_process_groups(config_)),
        memory_(checked_memory_plan(config_, groups_.world().size())),
        lead_(groups_.world().rank() == 0),
        run_dir_(lead_run_directory(config_, run_start(config_, options), lead_)),
        model_(config_.model, config_.loss, config_.data.micro_batch, config_.data.seq_len, config_.train.seed,
               memory_.device, config_.train.logit_chunk, {&groups_.ep(), config_.parallel.ep_capacity},
               run_masters(config_)),
        optimizer_(config_.optim, model_.layout().block_elements(), model_.layout().decay_elements(), model_.device(),
                   state_sharding(config_, groups_, model_.layout())),
        reduction_(optimizer_.gradient_collectives(groups_, model_.layout().sharded_elements(),
                                                   model_.layout().block_elements()),
                   final_stages(model_.layout(), config_.model.n_layers)),
        loader_(inputs_.data.corpus, loader_config(config_, groups_.dp())),
        schedule_(config_.optim, config_.train.steps),
        edl_(config_.edl, config_.model, inputs_.edl_label_count),
        monitor_(config_.model, inputs_.metric_label_count, model_.device()),
        guard_(config_.train.on_nonfinite, config_.train.max_consecutive_skips),
        root_(checkpoints_root(config_)),
        last_step_(options.stop_after > 0 ? std::min(options.stop_after, config_.train.steps) : config_.train.steps) {
    model_.balance_load_over(groups_.dp());
    if (optimizer_.keeps_masters()) start_masters();
    if (config_.data.val_every > 0 && (lead_ || expert_parallel()))
      evaluator_ = std::make_unique<Evaluator>(inputs_.data.corpus, inputs_.data.val_label_system,
                                               config_.data.micro_batch, config_.data.seq_len,
                                               config_.data.val_batches);
    facts_ = run_facts();
  }

  TrainSummary run(const StopSignals& signals) {
    if (lead_) {
      config_.save_resolved(std::filesystem::path(config_.train.out_dir) / "config.json");
      remove_stale_temporaries(root_);
      if (!config_.log.quiet) print_run_plan(config_, facts_);
    }
    wait_for_lead();  // every rank resumes from what rank 0 found and left in the run directory
    resume();
    if (lead_) log_.emplace(config_.metrics_path(), progress_.step);
    const auto start = Clock::now();
    for (std::int64_t step = progress_.step + 1; step <= last_step_; ++step) {
      const auto step_start = Clock::now();
      StepResult result = forward_backward(step);
      const StepAgreement agreed = agree_on_step(groups_.world(), locally_finite(result), signals.received() != 0);
      const StepVerdict verdict = guard_.judge(agreed.finite && std::isfinite(result.gradients.norm));
      if (verdict == StepVerdict::stop) return stop_nonfinite(result, step);
      finish_step(result, verdict, step);
      timing_.steps.add(seconds_since(step_start));
      result.record.tokens_per_s = static_cast<double>(facts_.tokens_per_step) / seconds_since(step_start);
      result.record.elapsed_s = seconds_since(start);
      if (timing_.steps.count == 1 && !config_.log.quiet && lead_)
        print_activation_peak(facts_.memory.activations, model_.activation_arena().peak());
      log_step(result.record, step);
      evaluate(step);
      const bool due = every(step, config_.train.checkpoint_every) || step == last_step_;
      if ((due || agreed.stop_requested) && !save()) return stop_unsaved(step);
      if (agreed.stop_requested) return stop_for_signal(signals.received(), start);
    }
    return finish(StopReason::completed, "", start);
  }

 private:
  RunFacts run_facts() const {
    RunFacts facts;
    facts.total_params = model_.layout().total_parameters();
    facts.active_params = model_.layout().active_parameters();
    facts.flops_per_token = config::training_flops_per_token(config_.model, config_.data.seq_len);
    facts.tokens_per_step =
        config_.data.micro_batch * config_.data.seq_len * config_.data.grad_accum * groups_.dp().size();
    facts.threads = threads_;
    facts.ranks = groups_.world().size();
    facts.comm = groups_.world().describe();
    facts.corpus = inputs_.data.manifest.file.string();
    facts.memory = memory_;
    return facts;
  }

  // The first checkpoint of resume_candidates() that loads; with "auto", a damaged one is reported and passed over.
  void resume() {
    const ResumeCandidates candidates = resume_candidates(root_, config_.train.resume);
    for (const auto& note : candidates.notes) warn("resume: " + note + "; looking for the newest complete checkpoint");
    std::string newest_error;
    for (const auto& dir : candidates.paths) {
      try {
        resume_from(dir);
        return;
      } catch (const Error& e) {
        if (!candidates.fall_back) throw;
        if (newest_error.empty()) newest_error = e.what();
        warn("cannot resume from " + dir.string() + ": " + e.what() + "; trying the checkpoint before it");
      }
    }
    check(candidates.paths.empty(), "resume",
          "no checkpoint under " + root_.string() + " loads (the newest: " + newest_error +
              "); move them away and start with --overwrite, or resume from a copy with --resume DIR");
    print(config_.train.resume.empty() ? "start: fresh run" : "start: fresh run (no checkpoint to resume from)");
  }

  // Every rank reads the same checkpoint files (on one host, or a file system every host shares).
  void resume_from(const std::filesystem::path& dir) {
    auto resumed = load_training_checkpoint(dir, config_, model_.layout(), model_.params(), optimizer_);
    if (optimizer_.keeps_masters()) optimizer_.publish(model_.working());
    restore_loop_state(resumed.progress.trainer, dir.string() + ": state.json");
    loader_.restore(resumed.progress.loader);
    progress_ = std::move(resumed.progress);
    checkpoint_ = dir;
    std::string line = "start: resumed from " + dir.string() + " at step " + std::to_string(progress_.step);
    if (!resumed.changed_keys.empty()) line += " (config changed: " + data::comma_list(resumed.changed_keys) + ")";
    print(line);
  }

  // grad_accum micro-batches forward and backward (gradients add up), the gradients' reduction overlapping the last
  // backward, then their norm.
  StepResult forward_backward(std::int64_t step) {
    const std::int64_t micro_batches = config_.data.grad_accum;
    const Tensor grads = model_.grads();
    const StepLosses losses =
        run_micro_batches({model_, edl_, monitor_, loader_, groups_.dp()}, inputs_, micro_batches,
                          [&](std::int64_t stage) { reduction_.stage_final(stage, grads); });
    reduction_.finish(grads);
    StepResult result;
    result.gradients = optimizer_.reduced_norm(groups_, model_.layout().sharded_elements(), grads, micro_batches);
    result.record.step = step;
    const model::Losses& lm = losses.model;
    result.record.loss = {.total = lm.total + edl_.weighted(losses.edl.mean), .lm = lm.lm, .lb = lm.lb, .z = lm.z,
                          .edl = losses.edl.mean};
    result.record.grad_norm = result.gradients.norm;
    result.record.lr = schedule_.at(step);
    return result;
  }

  static bool locally_finite(const StepResult& result) {
    return !first_nonfinite_quantity(result.record.loss, 0.0).has_value();
  }

  // The update (or, for a skipped step, none) and the counters that move either way: data and schedule go on.
  void finish_step(StepResult& result, StepVerdict verdict, std::int64_t step) {
    if (verdict == StepVerdict::update) {
      optimizer_.update(updated_block(), model_.grads(), result.gradients, result.record.lr, step - guard_.skipped());
    } else {
      OptimizerStep::discard(model_.grads());
      warn("step " + std::to_string(step) + ": update skipped: " + nonfinite_cause(result) + " (" +
           std::to_string(guard_.streak()) + " in a row; the run stops at " + std::to_string(guard_.limit()) + ")");
    }
    progress_.step = step;
    progress_.tokens += facts_.tokens_per_step;
    result.record.tokens = progress_.tokens;
    result.record.skipped_steps = guard_.skipped();
  }

  // Lines, records and evals follow the schedule's steps, not where this process stops: an interrupted and resumed
  // run logs exactly what an uninterrupted one does.
  void log_step(StepRecord& record, std::int64_t step) {
    if (!every(step, config_.log.every) && step != config_.train.steps) return;
    monitor_.gather_window(groups_.dp());
    model::RoutingReport routing = monitor_.finish();
    if (!lead_) return;
    record.routing = std::move(routing.json);
    record.routing_summary = std::move(routing.summary);
    log_->write(record.to_json());
    const double eta = timing_.eta(last_step_ - step, evals_after(step), checkpoints_after(step));
    print(format_step_line(record, config_.train.steps, eta));
  }

  // Rank 0 alone evaluates where every rank holds the whole model. Under expert parallelism an evaluation pass is
  // collective over the expert group, so every rank makes it on the same batches, and rank 0 logs it.
  void evaluate(std::int64_t step) {
    if (config_.data.val_every == 0 || !(every(step, config_.data.val_every) || step == config_.train.steps))
      return;
    if (evaluator_) {
      const auto eval_start = Clock::now();
      EvalRecord eval = evaluator_->run(model_, step, progress_.tokens);
      timing_.evals.add(seconds_since(eval_start));
      if (lead_) {
        log_->write(eval.to_json());
        print(format_eval_line(eval));
      }
    }
    wait_for_lead();
  }

  // The other ranks meet rank 0 after its own work (the run directory, a checkpoint, an evaluation) here rather
  // than in their next collective: their wait is as long as that work, which the collective deadline
  // (parallel.timeout_s) does not bound; rank 0's own wait in the barrier stays timed.
  void wait_for_lead() const {
    const UntimedWaits lead_work(!lead_);
    groups_.world().barrier();
  }

  bool expert_parallel() const { return groups_.ep().size() > 1; }

  std::int64_t evals_after(std::int64_t step) const {
    return evaluator_ ? events_after(step, last_step_, config_.data.val_every, last_step_ == config_.train.steps) : 0;
  }
  std::int64_t checkpoints_after(std::int64_t step) const {
    return events_after(step, last_step_, config_.train.checkpoint_every, true);
  }

  // Writes a checkpoint of the state after progress_.step, unless parameters or moments hold a NaN or an infinity
  // (an update that overflowed): then nothing is written, so pruning can never delete the last good checkpoint.
  // Rank 0 writes the replicated state for every rank, and under expert parallelism each expert shard's first rank
  // its experts; no rank goes on (or exits) before the checkpoint is published.
  bool save() {
    const auto save_start = Clock::now();
    const std::pair<const char*, Tensor> blocks[] = {{"parameters", masters()},
                                                     {"AdamW exp_avg moments", optimizer_.exp_avg()},
                                                     {"AdamW exp_avg_sq moments", optimizer_.exp_avg_sq()}};
    for (const auto& [what, block] : blocks)
      if (auto tensor = first_nonfinite_in(block)) {
        unsaved_cause_ = std::string("the ") + what + " hold non-finite values after the update (first: " +
                         *tensor + ")";
        break;
      }
    // Under expert parallelism each rank checks its own experts: all must agree before the collective save.
    if (!agree_on_step(groups_.world(), unsaved_cause_.empty(), false).finite) {
      if (unsaved_cause_.empty()) unsaved_cause_ = "another rank's experts hold non-finite values after the update";
      return false;
    }
    monitor_.gather_window(groups_.dp());
    progress_.loader = loader_.state();
    progress_.trainer = loop_state();
    {
      // The others wait inside the save for rank 0's files (and each other's expert shards): rank 0's work.
      const UntimedWaits lead_work(!lead_);
      checkpoint_ = save_training_checkpoint(root_, config_, model_.layout(), model_.params(), optimizer_,
                                             progress_, groups_);
    }
    wait_for_lead();
    timing_.checkpoints.add(seconds_since(save_start));
    return true;
  }

  // The optimizer's masters, sharded, start as the model's seeded initial parameters, which the working copy
  // then takes from them: the model alone holds no f32 block to start from.
  void start_masters() {
    Arena host("initial parameters", Device::cpu,
               static_cast<std::size_t>(model_.layout().block_elements()) * sizeof(float));
    const Tensor initial = host.alloc(DType::f32, {model_.layout().block_elements()});
    model_.write_initial_parameters(initial);
    optimizer_.scatter_masters(initial);
    optimizer_.publish(model_.working());
  }
  // The f32 masters: the model's block, or this rank's slices where the optimizer keeps them.
  Tensor masters() const { return optimizer_.keeps_masters() ? optimizer_.masters() : model_.params(); }
  // What an update writes: the masters, or where the optimizer keeps them, the working copy it rounds from them.
  Tensor updated_block() const { return optimizer_.keeps_masters() ? model_.working() : model_.params(); }

  // The first tensor of a parameter-shaped block with a NaN or an infinity; a ZeRO-1 rank's moments are slices of
  // many tensors, named as such.
  std::optional<std::string> first_nonfinite_in(const Tensor& block) const {
    if (block.numel() == model_.layout().block_elements()) return first_nonfinite_tensor(model_.layout(), block);
    if (block.numel() == 0 || std::isfinite(ops::sum_of_squares(block))) return std::nullopt;
    return "this rank's slices (parallel.zero)";
  }

  // What a checkpoint carries of the loop itself: the guard's counts and the open routing-metrics window.
  nlohmann::json loop_state() const {
    return {{"skipped_steps", guard_.skipped()},
            {"skip_streak", guard_.streak()},
            {"routing_window", monitor_.window_state()}};
  }

  void restore_loop_state(const nlohmann::json& state, const std::string& where) {
    if (state.empty()) return;  // a checkpoint of format version 1: nothing skipped, the window starts empty
    for (const char* key : {"skipped_steps", "skip_streak"})
      check(state.contains(key) && state[key].is_number_integer(), where, std::string("trainer.") + key +
                                                                              ": expected an integer");
    check(state.contains("routing_window"), where, "trainer.routing_window: missing");
    guard_.restore(state["skipped_steps"].get<std::int64_t>(), state["skip_streak"].get<std::int64_t>());
    // The saved window is the ranks' sum (gather_window): rank 0 takes it up, the others start empty.
    if (lead_) monitor_.restore_window(state["routing_window"], where);
  }

  std::string nonfinite_cause(const StepResult& result) const {
    std::string cause = first_nonfinite_quantity(result.record.loss, result.gradients.norm)
                            .value_or("a loss on another rank is not finite");
    if (!std::isfinite(result.gradients.norm))
      if (auto tensor = first_nonfinite_tensor(model_.layout(), model_.grads()))
        cause += " (first non-finite gradient: " + *tensor + ")";
    return cause;
  }

  // How a non-finite stop ends its message: nothing of the bad state reached a checkpoint.
  std::string unsaved_ending() const {
    return "; this state was not saved, " +
           (checkpoint_ ? "the last checkpoint is " + checkpoint_->string() : std::string("no checkpoint exists yet"));
  }

  TrainSummary stop_nonfinite(StepResult& result, std::int64_t step) {
    std::string message = "step " + std::to_string(step) + ": " + nonfinite_cause(result);
    if (config_.train.on_nonfinite == config::NonFinitePolicy::kSkip)
      message += "; " + std::to_string(guard_.streak()) + " non-finite steps in a row (train.max_consecutive_skips)";
    result.record.tokens = progress_.tokens + facts_.tokens_per_step;
    result.record.skipped_steps = guard_.skipped();
    if (log_) log_->write(result.record.to_json());
    print(format_step_line(result.record, config_.train.steps, 0.0));
    return stopped(StopReason::nonfinite, message + unsaved_ending());
  }

  TrainSummary stop_unsaved(std::int64_t step) {
    return stopped(StopReason::nonfinite, "step " + std::to_string(step) + ": " + unsaved_cause_ + unsaved_ending());
  }

  TrainSummary stop_for_signal(int signal, Clock::time_point start) {
    return finish(StopReason::signal,
                  std::string(signal_name(signal)) + " after step " + std::to_string(progress_.step) +
                      ": checkpoint " + checkpoint_->string() + " written; continue with --resume auto",
                  start);
  }

  TrainSummary finish(StopReason reason, std::string message, Clock::time_point start) {
    if (!config_.log.quiet && lead_)
      print_run_end(format_run_end(progress_.step, timing_, seconds_since(start), facts_), config_.metrics_path(),
                    checkpoint_);
    return stopped(reason, std::move(message));
  }

  TrainSummary stopped(StopReason reason, std::string message) const {
    return {.step = progress_.step,
            .tokens = progress_.tokens,
            .metrics = config_.metrics_path(),
            .checkpoint = checkpoint_,
            .reason = reason,
            .message = std::move(message)};
  }

  void print(const std::string& line) const {
    if (config_.log.quiet || !lead_) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }

  // Warnings reach stderr even in quiet runs: they say that work was dropped or passed over. Every rank takes the
  // same decisions, so rank 0 says it for all.
  void warn(const std::string& line) const {
    if (!lead_) return;
    std::fflush(stdout);
    std::fprintf(stderr, "warning: %s\n", line.c_str());
  }

  int threads_;
  RunInputs inputs_;
  const config::Config& config_ = inputs_.config;
  ProcessGroups groups_;  // before memory_: on GPUs it picks the device whose free memory the plan must fit
  MemoryPlan memory_;
  bool lead_;  // world rank 0: the one rank that prints, logs, evaluates and writes checkpoints
  std::optional<RunDirectory> run_dir_;  // rank 0's: locked and checked against an existing run before allocation
  model::Transformer model_;
  OptimizerStep optimizer_;
  OverlappedReduction reduction_;
  data::TrainLoader loader_;
  LrSchedule schedule_;
  model::EdlTerm edl_;
  model::RoutingMonitor monitor_;  // routing metrics in the val label system (the coarsest by default)
  NonFiniteGuard guard_;
  std::filesystem::path root_;
  std::int64_t last_step_;  // where this process stops: train.steps, or --stop-after
  std::unique_ptr<Evaluator> evaluator_;
  RunFacts facts_;
  std::optional<MetricsLog> log_;  // rank 0's
  TrainProgress progress_;
  RunTiming timing_;
  std::string unsaved_cause_;
  std::optional<std::filesystem::path> checkpoint_;
};

}  // namespace

TrainSummary train(const config::Config& config, const TrainOptions& options) {
  // The stop signals are the trainer's for the whole run, start-up and teardown included: one that arrives before
  // the first step stops the run after it, with a checkpoint.
  std::optional<StopSignals> own;
  const StopSignals& signals = options.signals != nullptr ? *options.signals : own.emplace();
  return TrainingRun(config, options).run(signals);
}

}  // namespace diverge
