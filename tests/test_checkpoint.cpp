// Tests for checkpoint directories: save/load round trip, expected-tensor checks, damage, pruning, `latest`,
// leftovers of killed saves, and a child process SIGKILLed while saving.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/checkpoint/checkpoint_dir.h"
#include "engine/checkpoint/checkpoint_io.h"
#include "engine/checkpoint/tensor_match.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "tests/checkpoint_support.h"
#include "tests/support.h"

using namespace diverge;
using diverge::test::error_of;
using diverge::test::ScratchDir;
using json = nlohmann::json;

namespace {

// Parameters and AdamW moments of a pretend model. Every value is a function of the step, so a loaded checkpoint
// can be compared with what the saver held at that step.
class FakeRun {
 public:
  explicit FakeRun(std::vector<TensorSpec> specs) : specs_(std::move(specs)) {
    for (const auto& spec : specs_) {
      const auto count = static_cast<std::size_t>(tensor_byte_size(spec, "test") / sizeof(float));
      params_.emplace_back(count);
      exp_avg_.emplace_back(count);
      exp_avg_sq_.emplace_back(count);
    }
  }

  void fill(std::int64_t step) {
    for (std::size_t t = 0; t < specs_.size(); ++t)
      for (std::size_t i = 0; i < params_[t].size(); ++i) {
        params_[t][i] = static_cast<float>(step) + 0.25f * static_cast<float>(i % 8);
        exp_avg_[t][i] = -static_cast<float>(step);
        exp_avg_sq_[t][i] = 2.0f * static_cast<float>(step) + static_cast<float>(t);
      }
  }

  const std::vector<TensorSpec>& specs() const { return specs_; }

  std::vector<NamedTensor> param_tensors() const {
    std::vector<NamedTensor> out;
    for (std::size_t t = 0; t < specs_.size(); ++t) out.push_back(named(specs_[t], params_[t]));
    return out;
  }

  std::vector<NamedTensor> optimizer_tensors() const {
    std::vector<NamedTensor> out;
    const auto moments = adamw_state_specs(specs_);
    for (std::size_t t = 0; t < specs_.size(); ++t) {
      out.push_back(named(moments[2 * t], exp_avg_[t]));
      out.push_back(named(moments[2 * t + 1], exp_avg_sq_[t]));
    }
    return out;
  }

 private:
  static NamedTensor named(const TensorSpec& spec, const std::vector<float>& values) {
    NamedTensor t;
    static_cast<TensorSpec&>(t) = spec;
    t.data = values.data();
    return t;
  }

  std::vector<TensorSpec> specs_;
  std::vector<std::vector<float>> params_, exp_avg_, exp_avg_sq_;  // (tensors) x (elements)
};

std::vector<TensorSpec> small_model() {
  return {{"model.embed_tokens.weight", SafeDtype::f32, {16, 8}},
          {"model.layers.3.self_attn.q_proj.weight", SafeDtype::f32, {256, 256}},
          {"model.layers.3.mlp.experts.2.down_proj.weight", SafeDtype::f32, {8, 4}},
          {"model.norm.weight", SafeDtype::f32, {8}}};
}

TrainingState state_at(std::int64_t step) {
  TrainingState s;
  s.step = step;
  s.tokens_seen = step * 4096;
  s.loader = {{"format_version", 1}, {"global_sample", step * 8}};
  s.rng = {{"seed", 1234}, {"draws", step * 3}};
  s.config = {{"model", {{"d_model", 8}, {"n_layers", 4}}}, {"train", {{"steps", 1000}}}};
  s.config_hash = content_hash(s.config.dump());
  return s;
}

fs::path save(const fs::path& root, FakeRun& run, std::int64_t step, int keep_last = 0) {
  run.fill(step);
  return save_checkpoint(root, state_at(step), run.param_tensors(), run.optimizer_tensors(), keep_last);
}

bool same_bytes(const SafetensorsFile& file, const NamedTensor& want) {
  const TensorEntry* have = file.find(want.name);
  if (have == nullptr) return false;
  const auto bytes = file.data(*have);
  return bytes.size() == tensor_byte_size(want, "test") && std::memcmp(bytes.data(), want.data, bytes.size()) == 0;
}

// The checkpoint holds exactly what `run` holds after fill(step), and the state saved at that step.
void check_holds_step(const LoadedCheckpoint& loaded, FakeRun& run, std::int64_t step) {
  CAPTURE(step);
  const TrainingState want = state_at(step);
  CHECK(loaded.state.step == want.step);
  CHECK(loaded.state.tokens_seen == want.tokens_seen);
  CHECK(loaded.state.loader == want.loader);
  CHECK(loaded.state.rng == want.rng);
  CHECK(loaded.state.config == want.config);
  CHECK(loaded.state.config_hash == want.config_hash);
  run.fill(step);
  loaded.check_model(run.specs());
  loaded.check_optimizer(adamw_state_specs(run.specs()));
  for (const auto& t : run.param_tensors()) CHECK_MESSAGE(same_bytes(loaded.model, t), t.name);
  for (const auto& t : run.optimizer_tensors()) CHECK_MESSAGE(same_bytes(loaded.optimizer, t), t.name);
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::vector<std::int64_t> steps(const fs::path& root) {
  std::vector<std::int64_t> out;
  for (const auto& c : list_checkpoints(root)) out.push_back(c.step);
  return out;
}

// Rewrites state.json of a checkpoint through an edit of its JSON.
template <class Edit>
void edit_state(const fs::path& checkpoint, Edit edit) {
  json state = json::parse(read_file(checkpoint / "state.json"));
  edit(state);
  write_file_atomic(checkpoint / "state.json", state.dump());
}

}  // namespace

TEST_CASE("checkpoint: save and load round trip") {
  ScratchDir dir("ckpt-roundtrip");
  const fs::path root = dir / "checkpoints";
  FakeRun run(small_model());
  const fs::path path = save(root, run, 100);
  CHECK(path == root / "step-000100");
  CHECK(read_file(root / "latest") == "step-000100\n");
  CHECK(entries(root) == std::set<std::string>{"latest", "step-000100"});
  CHECK(entries(path) == std::set<std::string>{"model.safetensors", "optimizer.safetensors", "state.json"});

  const json state = json::parse(read_file(path / "state.json"));
  CHECK(state["format"] == "diverge-checkpoint");
  CHECK(state["format_version"] == 3);
  CHECK(state["layout"] == json{{"world", 1}, {"ep", 1}, {"zero", 0}});
  for (const char* file : {"model.safetensors", "optimizer.safetensors"}) {
    const std::string bytes = read_file(path / file);
    CHECK(state["files"][file]["hash"] == content_hash(bytes));
    CHECK(state["files"][file]["bytes"] == bytes.size());
  }

  const LoadedCheckpoint loaded = load_checkpoint(path.string() + "/");
  CHECK(loaded.label() == "checkpoint step-000100");
  CHECK(loaded.model.metadata().at("format") == "pt");
  CHECK(loaded.model.tensors().size() == run.specs().size());
  CHECK(loaded.optimizer.tensors().size() == 2 * run.specs().size());
  CHECK(loaded.optimizer.find("model.norm.weight.exp_avg_sq") != nullptr);
  check_holds_step(loaded, run, 100);
}

TEST_CASE("checkpoint: a config expecting other tensors is told the first mismatch") {
  ScratchDir dir("ckpt-mismatch");
  FakeRun run(small_model());
  const LoadedCheckpoint loaded = load_checkpoint(save(dir / "checkpoints", run, 100));
  auto model_error = [&](std::vector<TensorSpec> expected) { return error_of([&] { loaded.check_model(expected); }); };

  auto expected = small_model();
  expected[1].shape = {512, 256};
  CHECK(model_error(expected) ==
        "checkpoint step-000100: model.layers.3.self_attn.q_proj.weight: shape [256,256] in model.safetensors, "
        "[512,256] expected by the config");
  expected = small_model();
  expected[2].dtype = SafeDtype::bf16;
  CHECK(model_error(expected) ==
        "checkpoint step-000100: model.layers.3.mlp.experts.2.down_proj.weight: dtype F32 in model.safetensors, "
        "BF16 expected by the config");
  expected = small_model();
  expected.push_back({"lm_head.weight", SafeDtype::f32, {16, 8}});
  CHECK(model_error(expected) ==
        "checkpoint step-000100: lm_head.weight: missing in model.safetensors (the config expects F32 [16,8])");
  expected = small_model();
  expected.pop_back();
  CHECK(model_error(expected) ==
        "checkpoint step-000100: model.norm.weight: F32 [8] in model.safetensors is not a tensor the config expects");

  auto params = small_model();
  params[0].shape = {16, 9};
  CHECK(error_of([&] { loaded.check_optimizer(adamw_state_specs(params)); }) ==
        "checkpoint step-000100: model.embed_tokens.weight.exp_avg: shape [16,8] in optimizer.safetensors, [16,9] "
        "expected by the config");
}

TEST_CASE("checkpoint: damaged, missing or inconsistent files are errors naming the file") {
  ScratchDir dir("ckpt-damage");
  const fs::path root = dir / "checkpoints";
  FakeRun run(small_model());
  auto load_error = [](const fs::path& path) { return error_of([&] { (void)load_checkpoint(path); }); };
  auto contains = [](const std::string& message, const std::string& fragment) {
    CAPTURE(message);
    CHECK(message.find(fragment) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  };

  SUBCASE("truncated tensor file") {
    const fs::path path = save(root, run, 100);
    const std::string bytes = read_file(path / "model.safetensors");
    write_file_atomic(path / "model.safetensors", bytes.substr(0, bytes.size() - 100));
    contains(load_error(path), (path / "model.safetensors").string() + ": file is " +
                                   std::to_string(bytes.size() - 100) + " bytes, state.json records " +
                                   std::to_string(bytes.size()) + " (truncated or replaced)");
  }
  SUBCASE("one flipped bit in the data") {
    const fs::path path = save(root, run, 100);
    std::string bytes = read_file(path / "optimizer.safetensors");
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
    write_file_atomic(path / "optimizer.safetensors", bytes);
    contains(load_error(path), (path / "optimizer.safetensors").string() + ": content hash ");
    contains(load_error(path), "(file damaged or replaced)");
  }
  SUBCASE("missing tensor file") {
    const fs::path path = save(root, run, 100);
    fs::remove(path / "optimizer.safetensors");
    CHECK(load_error(path) == (path / "optimizer.safetensors").string() + ": missing: the checkpoint is incomplete");
  }
  SUBCASE("not a checkpoint directory") {
    fs::create_directories(root / "step-000007");
    CHECK(load_error(root / "step-000007") ==
          (root / "step-000007").string() + ": not a checkpoint directory (no state.json)");
  }
  SUBCASE("state.json is not JSON") {
    const fs::path path = save(root, run, 100);
    write_file_atomic(path / "state.json", "{\"step\": 1");
    contains(load_error(path), (path / "state.json").string() + ": malformed JSON at column 11: ");
  }
  SUBCASE("state.json problems") {
    const fs::path path = save(root, run, 100);
    const std::string state_path = (path / "state.json").string() + ": ";
    edit_state(path, [](json& s) { s["bogus"] = 1; });
    CHECK(load_error(path) == state_path + "bogus: unknown key");
    edit_state(path, [](json& s) {
      s.erase("bogus");
      s["format_version"] = 4;
    });
    CHECK(load_error(path) == state_path + "format_version: is 4, this build reads versions 1 to 3");
    edit_state(path, [](json& s) {
      s["format_version"] = 3;
      s["layout"] = {{"world", 2}, {"ep", 2}};
    });
    CHECK(load_error(path) == state_path + "files.model-ep0-of-2.safetensors: missing");
    edit_state(path, [](json& s) { s["layout"] = {{"world", 1}, {"ep", 3}}; });
    CHECK(load_error(path) == state_path + "layout: ep 3 does not divide world 1");
    edit_state(path, [](json& s) { s["layout"] = {{"world", 1}, {"ep", 1}, {"zero", -1}}; });
    CHECK(load_error(path).rfind(state_path + "layout.zero: ", 0) == 0);
    edit_state(path, [](json& s) {
      s["layout"] = {{"world", 1}, {"ep", 1}};
      s["files"]["model-ep0-of-1.safetensors"] = 0;
    });
    CHECK(load_error(path) == state_path + "files.model-ep0-of-1.safetensors: unknown key (layout ep 1)");
    edit_state(path, [](json& s) {
      s["files"].erase("model-ep0-of-1.safetensors");
      s["format_version"] = 2;
    });
    CHECK(load_error(path) == state_path + "layout: unknown key");
    edit_state(path, [](json& s) {
      s.erase("layout");
      s["format_version"] = 1;
    });
    CHECK(load_error(path) == state_path + "trainer: unknown key");
    edit_state(path, [](json& s) { s.erase("trainer"); });
    CHECK(load_checkpoint(path).state.trainer == json::object());
    edit_state(path, [](json& s) {
      s["format_version"] = 2;
      s["step"] = 99;
    });
    CHECK(load_error(path) == state_path + "trainer: missing");
    edit_state(path, [](json& s) { s["trainer"] = json::object(); });
    CHECK(load_error(path) == state_path + "step is 99 but the directory is step-000100");
    edit_state(path, [](json& s) {
      s["step"] = 100;
      s["files"].erase("model.safetensors");
    });
    CHECK(load_error(path) == state_path + "files.model.safetensors: missing");
    edit_state(path, [](json& s) {
      s.erase("files");
      s["tokens_seen"] = -1;
      s["files"] = json::object();
    });
    CHECK(load_error(path) == state_path + "tokens_seen: is -1, expected a non-negative integer");
  }
}

TEST_CASE("checkpoint: pruning keeps the newest N and whatever `latest` names") {
  ScratchDir dir("ckpt-prune");
  const fs::path root = dir / "checkpoints";
  FakeRun run({{"w", SafeDtype::f32, {4}}});
  for (std::int64_t step = 1; step <= 5; ++step) save(root, run, step, 2);
  CHECK(steps(root) == std::vector<std::int64_t>{4, 5});
  for (std::int64_t step = 6; step <= 8; ++step) save(root, run, step, 0);
  CHECK(steps(root) == std::vector<std::int64_t>{4, 5, 6, 7, 8});

  write_latest(root, 5);  // a user rolling back to step 5
  prune_checkpoints(root, 2);
  CHECK(steps(root) == std::vector<std::int64_t>{5, 7, 8});
  CHECK(resume_candidates(root, "auto").paths.front() == root / "step-000005");
  prune_checkpoints(root, 0);
  CHECK(steps(root) == std::vector<std::int64_t>{5, 7, 8});
  CHECK(entries(root) == std::set<std::string>{"latest", "step-000005", "step-000007", "step-000008"});
}

TEST_CASE("checkpoint: names, `latest` and resume") {
  CHECK(checkpoint_name(100) == "step-000100");
  CHECK(checkpoint_name(1234567) == "step-1234567");
  CHECK(checkpoint_step("step-000100") == 100);
  CHECK(checkpoint_step("step-1234567") == 1234567);
  CHECK_FALSE(checkpoint_step("step-0100").has_value());
  CHECK_FALSE(checkpoint_step("step-000100.tmp-42").has_value());
  CHECK_FALSE(checkpoint_step("step-").has_value());
  CHECK_FALSE(checkpoint_step("step-99999999999999999999").has_value());

  ScratchDir dir("ckpt-latest");
  const fs::path root = dir / "checkpoints";
  CHECK(resume_candidates(root, "auto").paths.empty());  // no directory yet: a fresh run
  FakeRun run({{"w", SafeDtype::f32, {4}}});
  save(root, run, 10);
  save(root, run, 20);
  save(root, run, 30);
  write_latest(root, 20);  // a user rolling back to step 20
  CHECK(resume_candidates(root, "").paths.empty());
  const auto candidates = resume_candidates(root, "auto");
  CHECK(candidates.fall_back);
  CHECK(candidates.notes.empty());
  CHECK(candidates.paths ==
        std::vector<fs::path>{root / "step-000020", root / "step-000030", root / "step-000010"});
  const auto given = resume_candidates(root, (root / "step-000010").string());
  CHECK_FALSE(given.fall_back);
  CHECK(given.paths == std::vector<fs::path>{root / "step-000010"});
  CHECK(error_of([&] { (void)resume_candidates(root, (dir / "nowhere").string()); }) ==
        "resume: '" + (dir / "nowhere").string() + "' is not a checkpoint directory (no state.json in it)");

  fs::remove(root / "latest");  // killed between the first publish and its `latest`: the newest complete one
  CHECK(resume_candidates(root, "auto").paths.front() == root / "step-000030");
  write_file_atomic(root / "latest", "garbage\n");
  auto broken = resume_candidates(root, "auto");
  CHECK(broken.notes == std::vector<std::string>{(root / "latest").string() +
                                                 ": holds 'garbage', expected a checkpoint name such as step-000100"});
  CHECK(broken.paths.front() == root / "step-000030");
  write_file_atomic(root / "latest", "step-000040\n");
  broken = resume_candidates(root, "auto");
  CHECK(broken.notes == std::vector<std::string>{(root / "latest").string() + ": names step-000040, which does not " +
                                                 "exist in " + root.string()});
  CHECK(broken.paths.size() == 3);
}

TEST_CASE("checkpoint: leftovers of killed saves are removed, everything else is kept") {
  ScratchDir dir("ckpt-stale");
  const fs::path root = dir / "checkpoints";
  FakeRun run({{"w", SafeDtype::f32, {4}}});
  save(root, run, 100);
  fs::create_directories(root / "step-000200.tmp-4242");
  write_file_atomic(root / "step-000200.tmp-4242" / "model.safetensors", "partial");
  fs::create_directories(root / "step-000050.trash-17");
  write_file_atomic(root / "latest.tmp-99", "step-000200\n");
  write_file_atomic(root / "notes.txt", "mine");
  fs::create_directories(root / "step-000300.tmp-abc");
  CHECK(remove_stale_temporaries(root) == 3);
  CHECK(entries(root) == std::set<std::string>{"latest", "notes.txt", "step-000100", "step-000300.tmp-abc"});
  CHECK(remove_stale_temporaries(dir / "absent") == 0);
}

TEST_CASE("checkpoint: re-saving a step that an interrupted run published replaces it") {
  ScratchDir dir("ckpt-replace");
  const fs::path root = dir / "checkpoints";
  FakeRun run(small_model());
  save(root, run, 4);
  save(root, run, 5);
  write_latest(root, 4);  // as if killed after publishing step 5 but before `latest` moved
  run.fill(50);
  const fs::path path = save_checkpoint(root, state_at(5), run.param_tensors(), run.optimizer_tensors(), 0);
  CHECK(read_file(root / "latest") == "step-000005\n");
  CHECK(entries(root) == std::set<std::string>{"latest", "step-000004", "step-000005"});
  const LoadedCheckpoint loaded = load_checkpoint(path);
  for (const auto& t : run.param_tensors()) CHECK_MESSAGE(same_bytes(loaded.model, t), t.name);
}

namespace {

// 8 MB of parameters and 16 MB of moments: big enough that a save spans many writes and a kill lands inside one.
std::vector<TensorSpec> large_model() {
  return {{"model.embed_tokens.weight", SafeDtype::f32, {1024, 2048}}, {"model.norm.weight", SafeDtype::f32, {2048}}};
}

// The child: resumes numbering after `latest`, then saves one checkpoint per step until it is killed.
[[noreturn]] void save_until_killed(const fs::path& root, std::int64_t first_step) {
  int code = 0;
  try {
    FakeRun run(large_model());
    remove_stale_temporaries(root);
    for (std::int64_t step = first_step;; ++step) save(root, run, step, 2);
  } catch (...) {
    code = 3;
  }
  ::_exit(code);
}

std::optional<std::int64_t> latest_step(const fs::path& root) {
  const auto latest = read_latest(root);
  if (!latest.has_value()) return std::nullopt;
  return checkpoint_step(latest->filename().string());
}

bool wait_for_latest(const fs::path& root, std::int64_t at_least) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto step = latest_step(root);
    if (step.has_value() && *step >= at_least) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

}  // namespace

TEST_CASE("checkpoint: a process killed at any moment while saving leaves `latest` naming a complete checkpoint") {
  ScratchDir dir("ckpt-kill");
  const fs::path root = dir / "checkpoints";
  FakeRun run(large_model());
  // Milliseconds after the child's first complete save: kills land in different phases of the next saves.
  for (int delay_ms : {0, 3, 9, 21, 40, 75}) {
    CAPTURE(delay_ms);
    const auto resume = resume_candidates(root, "auto").paths;
    const std::int64_t first_step = resume.empty() ? 1 : load_checkpoint(resume.front()).state.step + 1;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) save_until_killed(root, first_step);
    const bool saved = wait_for_latest(root, first_step);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    REQUIRE(saved);
    REQUIRE(WIFSIGNALED(status));  // not an exit: the child never failed to save

    // What a restarted run sees before it cleans up: `latest` names a complete checkpoint that verifies.
    const auto latest = read_latest(root);
    REQUIRE(latest.has_value());
    check_holds_step(load_checkpoint(*latest), run, *checkpoint_step(latest->filename().string()));
    // After cleaning up, only complete checkpoints remain, and every one of them verifies.
    remove_stale_temporaries(root);
    for (const auto& name : entries(root)) CHECK_MESSAGE((name == "latest" || checkpoint_step(name).has_value()), name);
    for (const auto& c : list_checkpoints(root)) check_holds_step(load_checkpoint(c.path), run, c.step);
  }
}
