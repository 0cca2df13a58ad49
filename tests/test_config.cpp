// Tests for the training config: defaults, JSON round trip, every error class, --set overrides, model arithmetic, CLI.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/config/closest_match.h"
#include "engine/config/config.h"
#include "engine/config/model_size.h"
#include "engine/config/overrides.h"
#include "engine/error.h"
#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::config;
using diverge::test::run_diverge;
using diverge::test::ScratchDir;
using diverge::test::source_path;

namespace {

constexpr const char* kWhere = "config t.json";

// The message of the Error that parsing doc throws ("" when it parses); every message must be one line.
std::string parse_error(const Json& doc) {
  try {
    Config::from_json(doc, kWhere);
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find('\n') == std::string::npos, message);
    return message;
  }
  return "";
}

std::string override_error(Json doc, const std::string& assignment) {
  try {
    apply_override(doc, assignment);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A config unlike the defaults in every section, with each kind of value: enums, a layer list, weights, a large seed.
Config unusual_config() {
  Config c;
  c.model.vocab_size = 300;
  c.model.n_layers = 6;
  c.model.first_k_dense = 2;
  c.model.dense_hidden = 96;
  c.model.n_shared_experts = 1;
  c.model.shared_expert_hidden = 64;
  c.model.qk_norm = false;
  c.model.rope_theta = 1e6;
  c.data.corpus = "runs/corpus";
  c.data.weights = {{"coarse", {{"code", 2}, {"prose", 0.5}}}};
  c.data.val_label_system = "fine";
  c.optim.schedule = Schedule::kWsd;
  c.optim.decay_steps = 200;
  c.optim.lr = 1.0 / 3.0;
  c.loss.lb_scope = Scope::kGlobal;
  c.edl.beta = 0.01;
  c.edl.layers.indices = {2, 4, 5};
  c.edl.scope = Scope::kGlobal;
  c.edl.random_seed = 18446744073709551615ULL;
  c.parallel.ep = 4;
  c.parallel.ep_force_balance = true;
  c.parallel.timeout_s = 90.5;
  c.train.device = Device::kCuda;
  c.train.resume = "auto";
  c.log.quiet = true;
  return c;
}

}  // namespace

TEST_CASE("the defaults are valid and every section and key is written") {
  const Config defaults;
  CHECK_NOTHROW(defaults.validate());
  const Json doc = defaults.to_json();
  const std::vector<std::string> sections{"model", "data", "optim", "loss", "edl", "parallel", "train", "log"};
  REQUIRE(doc.size() == sections.size());
  std::size_t i = 0;
  for (const auto& [name, section] : doc.items()) CHECK(name == sections[i++]);
  CHECK(doc["model"].size() == 20);
  CHECK(doc["optim"]["schedule"] == "cosine");
  CHECK(doc["edl"]["layers"] == "all");
  CHECK(doc["data"]["weights"].is_null());
  CHECK(doc["loss"]["lb_coef"] == 1e-3);
  CHECK(doc["log"]["metrics_file"] == "metrics.jsonl");
}

TEST_CASE("the resolved config round-trips exactly, as JSON and as text") {
  for (const Config& c : {Config{}, unusual_config()}) {
    CHECK(Config::from_json(c.to_json(), kWhere) == c);
    CHECK(Config::from_json(Json::parse(c.to_json().dump()), kWhere) == c);
  }
  const Config c = unusual_config();
  CHECK(c.to_json()["edl"]["layers"] == Json::array({2, 4, 5}));
  CHECK(c.to_json()["edl"]["random_seed"] == 18446744073709551615ULL);
  CHECK(c.to_json()["train"]["device"] == "cuda");
}

TEST_CASE("missing sections and keys take their defaults; whole numbers may use an exponent") {
  const Config c = Config::from_json(Json::parse(R"({"model": {"d_model": 64}, "train": {"steps": 1e5}})"), kWhere);
  Config expected;
  expected.model.d_model = 64;
  expected.train.steps = 100000;
  CHECK(c == expected);
  CHECK(Config::from_json(Json::object(), kWhere) == Config{});
}

TEST_CASE("an unknown key names its path and the nearest known key") {
  CHECK(parse_error({{"model", {{"n_expert", 8}}}}) ==
        "config t.json: model.n_expert: unknown key (did you mean 'n_experts'?)");
  CHECK(parse_error({{"model", {{"seq_len", 8}}}}) ==
        "config t.json: model.seq_len: unknown key (did you mean 'data.seq_len'?)");
  CHECK(parse_error({{"optim", {{"zzz", 1}}}}).find("optim.zzz: unknown key (optim keys: lr, min_lr,") !=
        std::string::npos);
  CHECK(parse_error({{"modle", Json::object()}}) == "config t.json: modle: unknown section (did you mean 'model'?)");
  CHECK(parse_error({{"optimizer", Json::object()}}) ==
        "config t.json: optimizer: unknown section (sections: model, data, optim, loss, edl, parallel, train, log)");
  // A key from the file is escaped and cut in the message, which stays one line.
  CHECK(parse_error({{"model", {{"n_\nexperts", 8}}}}).starts_with("config t.json: model.n_\\nexperts: unknown key"));
  CHECK(parse_error({{std::string(100000, 's'), Json::object()}}) ==
        "config t.json: " + std::string(60, 's') + "...: unknown section (sections: model, data, optim, loss, edl, "
        "parallel, train, log)");
}

TEST_CASE("a value of the wrong type names its path and the expected type") {
  CHECK(parse_error({{"model", {{"d_model", "64"}}}}) ==
        "config t.json: model.d_model: expected an integer, got \"64\"");
  CHECK(parse_error({{"model", {{"d_model", 64.5}}}}) == "config t.json: model.d_model: expected an integer, got 64.5");
  CHECK(parse_error({{"model", {{"qk_norm", 1}}}}) == "config t.json: model.qk_norm: expected true or false, got 1");
  CHECK(parse_error({{"optim", {{"lr", "fast"}}}}) == "config t.json: optim.lr: expected a number, got \"fast\"");
  CHECK(parse_error({{"train", {{"seed", -1}}}}) ==
        "config t.json: train.seed: expected a non-negative integer, got -1");
  CHECK(parse_error({{"train", {{"out_dir", 3}}}}) == "config t.json: train.out_dir: expected a string, got 3");
  CHECK(parse_error({{"data", {{"weights", Json::array({1, 2})}}}}) ==
        "config t.json: data.weights: expected null or an object, got [1,2]");
  CHECK(parse_error({{"edl", {{"layers", Json::array()}}}}) ==
        "config t.json: edl.layers: expected \"all\" or a non-empty list of layer indices, got []");
  CHECK(parse_error({{"edl", {{"layers", Json::array({1, "2"})}}}}) ==
        "config t.json: edl.layers[1]: expected an integer, got \"2\"");
  CHECK(parse_error({{"model", 5}}) == "config t.json: model: expected an object, got 5");
  CHECK(parse_error(Json::array()) ==
        "config t.json: expected an object of sections (model, data, optim, ...), got []");
}

TEST_CASE("a value out of its range names its path and the rule") {
  CHECK(parse_error({{"model", {{"d_model", -4}}}}) == "config t.json: model.d_model: must be >= 1 (got -4)");
  CHECK(parse_error({{"model", {{"n_experts", 0}}}}) == "config t.json: model.n_experts: must be >= 1 (got 0)");
  CHECK(parse_error({{"optim", {{"lr", -0.5}}}}) == "config t.json: optim.lr: must be >= 0 (got -0.5)");
  CHECK(parse_error({{"optim", {{"beta2", 1}}}}) == "config t.json: optim.beta2: must be in [0, 1) (got 1.0)");
  CHECK(parse_error({{"edl", {{"eps", 0}}}}) == "config t.json: edl.eps: must be > 0 (got 0.0)");
  CHECK(parse_error({{"train", {{"steps", 0}}}}) == "config t.json: train.steps: must be >= 1 (got 0)");
}

TEST_CASE("a name outside an enum's set lists the set and the nearest name") {
  CHECK(parse_error({{"optim", {{"schedule", "cosin"}}}}) ==
        "config t.json: optim.schedule: 'cosin' is not one of cosine, wsd, constant (did you mean 'cosine'?)");
  CHECK(parse_error({{"loss", {{"lb_scope", "batch"}}}}) ==
        "config t.json: loss.lb_scope: 'batch' is not one of micro_batch, global");
  CHECK(parse_error({{"edl", {{"scope", 1}}}}) ==
        "config t.json: edl.scope: expected one of micro_batch, global, got 1");
  CHECK(parse_error({{"train", {{"device", "gpu"}}}}) ==
        "config t.json: train.device: 'gpu' is not one of cpu, cuda");
  CHECK(parse_error({{"train", {{"device", "g\npu"}}}}) ==
        "config t.json: train.device: 'g\\npu' is not one of cpu, cuda");
}

TEST_CASE("rules between keys name the key and the rule") {
  CHECK(parse_error({{"model", {{"n_heads", 6}, {"n_kv_heads", 4}, {"d_model", 96}}}}) ==
        "config t.json: model.n_kv_heads: must divide model.n_heads (6 heads, 4 kv heads)");
  CHECK(parse_error({{"model", {{"d_model", 100}, {"n_heads", 8}, {"n_kv_heads", 8}}}}) ==
        "config t.json: model.head_dim: is 0 (d_model / n_heads) but model.d_model 100 is not a multiple of "
        "model.n_heads 8: set head_dim or change them");
  CHECK(parse_error({{"model", {{"head_dim", 33}}}}) ==
        "config t.json: model.head_dim: must be even: rotary embeddings rotate pairs of dimensions (head_dim 33)");
  CHECK(parse_error({{"model", {{"head_dim", 32}, {"d_model", 100}}}}).empty());
  CHECK(parse_error({{"model", {{"top_k", 9}}}}) == "config t.json: model.top_k: must be <= model.n_experts (9 > 8)");
  CHECK(parse_error({{"model", {{"first_k_dense", 4}, {"dense_hidden", 64}}}}).find(
            "model.first_k_dense: must be < model.n_layers") != std::string::npos);
  CHECK(parse_error({{"model", {{"first_k_dense", 1}}}}) ==
        "config t.json: model.dense_hidden: must be >= 1 when model.first_k_dense > 0");
  CHECK(parse_error({{"model", {{"n_shared_experts", 2}}}}) ==
        "config t.json: model.shared_expert_hidden: must be >= 1 when model.n_shared_experts > 0");
  CHECK(parse_error({{"data", {{"seq_len", 2048}}}}) ==
        "config t.json: data.seq_len: must be <= model.max_seq_len (2048 > 1024)");
  CHECK(parse_error({{"optim", {{"min_lr", 0.1}, {"lr", 0.01}}}}) ==
        "config t.json: optim.min_lr: must be <= optim.lr");
  CHECK(parse_error({{"optim", {{"warmup_steps", 2000}}}}) ==
        "config t.json: optim.warmup_steps: must be <= train.steps (2000 > 1000)");
  CHECK(parse_error({{"optim", {{"schedule", "wsd"}}}}) ==
        "config t.json: optim.decay_steps: must be >= 1 for schedule 'wsd'");
  CHECK(parse_error({{"optim", {{"schedule", "wsd"}, {"decay_steps", 950}}}}) ==
        "config t.json: optim.decay_steps: optim.warmup_steps + optim.decay_steps must be <= train.steps "
        "(100 + 950 > 1000)");
  CHECK(parse_error({{"model", {{"first_k_dense", 1}, {"dense_hidden", 64}}}, {"edl", {{"layers", {0, 2}}}}}) ==
        "config t.json: edl.layers[0]: layer 0 is not a MoE layer (MoE layers are 1..3)");
  CHECK(parse_error({{"edl", {{"layers", {3, 1}}}}}) ==
        "config t.json: edl.layers[1]: layers must be listed in ascending order, once each");
  CHECK(parse_error({{"edl", {{"labels", ""}}}}).find("edl.labels: must name a label system") != std::string::npos);
  CHECK(parse_error({{"train", {{"out_dir", ""}}}}) == "config t.json: train.out_dir: must not be empty");
  CHECK(parse_error({{"parallel", {{"ep", 3}}}}) ==
        "config t.json: parallel.ep: must divide model.n_experts: each expert-parallel rank holds as many experts "
        "(8 experts, ep 3)");
  CHECK(parse_error({{"parallel", {{"ep", 0}}}}) == "config t.json: parallel.ep: must be >= 1 (got 0)");
  CHECK(parse_error({{"parallel", {{"timeout_s", -1}}}}) ==
        "config t.json: parallel.timeout_s: must be >= 0 (got -1.0)");
  CHECK(parse_error({{"parallel", {{"timeout_s", "10m"}}}}) ==
        "config t.json: parallel.timeout_s: expected a number, got \"10m\"");
}

TEST_CASE("validate() checks configs built in code as well") {
  Config c;
  c.model.top_k = 0;
  CHECK_THROWS_WITH_AS(c.validate("run"), "run: model.top_k: must be >= 1 (got 0)", Error);
}

TEST_CASE("--set writes nested values, parsed as JSON when they parse") {
  Json doc = Json::parse(R"({"model": {"d_model": 64}, "data": {"weights": {"coarse": {"code": 1}}}})");
  apply_override(doc, "model.d_model=128");
  apply_override(doc, "model.qk_norm=false");
  apply_override(doc, "optim.lr=3e-4");
  apply_override(doc, "optim.schedule=wsd");
  apply_override(doc, "train.out_dir=runs/a=b");
  apply_override(doc, "train.resume=\"42\"");
  apply_override(doc, "edl.layers=[1, 3]");
  apply_override(doc, "data.weights.coarse.prose=0.5");
  apply_override(doc, "data.weights.fine={\"code.c\": 2}");
  apply_override(doc, "data.val_label_system=");
  CHECK(doc["model"]["d_model"] == 128);
  CHECK(doc["model"]["qk_norm"] == false);
  CHECK(doc["optim"]["lr"] == 3e-4);
  CHECK(doc["optim"]["schedule"] == "wsd");
  CHECK(doc["train"]["out_dir"] == "runs/a=b");
  CHECK(doc["train"]["resume"] == "42");
  CHECK(doc["edl"]["layers"] == Json::array({1, 3}));
  CHECK(doc["data"]["weights"]["coarse"]["code"] == 1);
  CHECK(doc["data"]["weights"]["coarse"]["prose"] == 0.5);
  CHECK(doc["data"]["weights"]["fine"]["code.c"] == 2);
  CHECK(doc["data"]["val_label_system"] == "");

  Json empty = Json::object();
  apply_override(empty, "data.weights.coarse.math=1");
  CHECK(empty == Json::parse(R"({"data": {"weights": {"coarse": {"math": 1}}}})"));
}

TEST_CASE("--set rejects unknown paths and malformed assignments, naming the assignment") {
  const Json doc = Json::parse(R"({"model": {"d_model": 64}, "data": {"weights": {"coarse": 1}}})");
  CHECK(override_error(doc, "model.n_expert=8") ==
        "--set model.n_expert=8: model.n_expert: unknown key (did you mean 'n_experts'?)");
  CHECK(override_error(doc, "modle.d_model=8") ==
        "--set modle.d_model=8: modle: unknown section (did you mean 'model'?)");
  CHECK(override_error(doc, "model.d_model.x=8") ==
        "--set model.d_model.x=8: unknown path 'model.d_model.x': model.d_model holds no keys");
  CHECK(override_error(doc, "data.weights.coarse.code=1") ==
        "--set data.weights.coarse.code=1: cannot set inside 'data.weights.coarse': it holds 1");
  CHECK(override_error(doc, "model.d_model") ==
        "--set model.d_model: expected <section>.<key>=<value>, e.g. model.d_model=512");
  CHECK(override_error(doc, "=5") == "--set =5: expected <section>.<key>=<value>, e.g. model.d_model=512");
  CHECK(override_error(doc, "model..d_model=5") == "--set model..d_model=5: empty element in path 'model..d_model'");
  CHECK(override_error(doc, "model={}") ==
        "--set model={}: 'model' is a section: set one of its keys (model.<key>=<value>)");
}

TEST_CASE("load reads a file, applies overrides in order and names the file in errors") {
  ScratchDir dir("config-load");
  write_file_atomic(dir / "t.json", R"({"model": {"n_experts": 4, "top_k": 2}})");
  const Config c = Config::load(dir / "t.json", {"model.top_k=1", "model.top_k=3", "optim.schedule=constant"});
  CHECK(c.model.n_experts == 4);
  CHECK(c.model.top_k == 3);
  CHECK(c.optim.schedule == Schedule::kConstant);
  const std::string where = "config " + (dir / "t.json").string();
  CHECK_THROWS_WITH_AS(Config::load(dir / "t.json", {"model.top_k=5"}),
                       (where + ": model.top_k: must be <= model.n_experts (5 > 4)").c_str(), Error);
  CHECK_THROWS_WITH_AS(Config::load(dir / "t.json", {"model.top_k=two"}),
                       (where + ": model.top_k: expected an integer, got \"two\"").c_str(), Error);

  write_file_atomic(dir / "bad.json", "{\"model\": {\"d_model\": 64,}}");
  try {
    Config::load(dir / "bad.json");
    FAIL("malformed JSON was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).rfind("config " + (dir / "bad.json").string() + ": malformed JSON at column 26: ", 0) ==
          0);
  }
  CHECK_THROWS_AS(Config::load(dir / "missing.json"), Error);
}

TEST_CASE("a number beyond double is one line naming the file and the key, in the file and in --set") {
  ScratchDir dir("config-range");
  write_file_atomic(dir / "x.json", "{\"optim\": {\"lr\": 1e400}}");
  CHECK_THROWS_WITH_AS(Config::load(dir / "x.json"),
                       ("config " + (dir / "x.json").string() +
                        ": optim.lr: number 1e400 is out of range (a JSON number must fit a double, magnitude below "
                        "1.8e308)")
                           .c_str(),
                       Error);
  write_file_atomic(dir / "ok.json", "{}");
  CHECK_THROWS_WITH_AS(Config::load(dir / "ok.json", {"optim.lr=-1e999"}),
                       doctest::Contains("--set optim.lr=-1e999: number -1e999 is out of range"), Error);
  write_file_atomic(dir / "lines.json", "{\n  \"optim\": {\n    \"lr\": 1e-3,\n  }\n}\n");
  CHECK_THROWS_WITH_AS(Config::load(dir / "lines.json"),
                       doctest::Contains(": malformed JSON at line 4, column 3: syntax error"), Error);
}

TEST_CASE("a key given twice in a config file or a --set value is refused, naming the key's path") {
  ScratchDir dir("config-duplicates");
  write_file_atomic(dir / "d.json", R"({"optim": {"lr": 1e-3, "warmup_steps": 2, "lr": 5}})");
  CHECK_THROWS_WITH_AS(Config::load(dir / "d.json"),
                       ("config " + (dir / "d.json").string() +
                        ": optim.lr: duplicate key (a key may appear once per object)")
                           .c_str(),
                       Error);
  write_file_atomic(dir / "s.json", R"({"optim": {}, "optim": {"lr": 5}})");
  CHECK_THROWS_WITH_AS(Config::load(dir / "s.json"), doctest::Contains(": optim: duplicate key"), Error);
  write_file_atomic(dir / "ok.json", "{}");
  CHECK_THROWS_WITH_AS(Config::load(dir / "ok.json", {R"(data.weights={"coarse": {"a": 1, "a": 2}})"}),
                       doctest::Contains(": coarse.a: duplicate key"), Error);
}

TEST_CASE("a deeply nested config is an error naming the file, not a crash") {
  ScratchDir dir("config-deep");
  write_file_atomic(dir / "deep.json", std::string(100000, '[') + std::string(100000, ']'));
  const auto deep = run_diverge("config check --config " + (dir / "deep.json").string());
  CHECK(deep.exit_code == 1);
  CHECK(deep.output.rfind("error: config " + (dir / "deep.json").string() + ": [0][0]", 0) == 0);
  CHECK(deep.output.find("nest deeper than 128 levels") != std::string::npos);
  CHECK(deep.output.size() < 300);
  write_file_atomic(dir / "ok.json", "{}");
  const auto set = run_diverge("config check --config " + (dir / "ok.json").string() + " --set 'data.weights=" +
                               std::string(100000, '[') + "'");
  CHECK(set.exit_code == 1);
  CHECK(set.output.find("nest deeper than 128 levels") != std::string::npos);
}

TEST_CASE("a bad value is quoted by its first bytes without writing out the rest of it") {
  // dump() of this value throws at the invalid UTF-8 past the quoted prefix; the message never gets that far.
  const Json doc = {{"model", {{"d_model", Json::array({std::string(200, 'a'), std::string("\xff")})}}}};
  CHECK(parse_error(doc) == std::string(kWhere) + ": model.d_model: expected an integer, got [\"" +
                                std::string(58, 'a') + "...");
}

TEST_CASE("save_resolved writes the config that load reads back") {
  ScratchDir dir("config-save");
  const Config c = unusual_config();
  c.save_resolved(dir / "resolved.json");
  CHECK(Config::load(dir / "resolved.json") == c);
  CHECK(read_file(dir / "resolved.json").back() == '\n');
  CHECK(c.metrics_path() == fs::path("runs/diverge/metrics.jsonl"));
}

TEST_CASE("closest_match suggests only near names") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("modle", "model") == 1);
  CHECK(edit_distance("ab", "ba") == 1);
  CHECK(closest_match("gpu", {"cpu", "cuda"}).empty());
  CHECK(closest_match("n_expert", {"n_experts", "n_heads"}) == "n_experts");
  CHECK(closest_match("xyz", {"lr", "eps"}).empty());
}

// A tiny model counted by hand: V=10, d=4, 2 layers (layer 0 dense, layer 1 MoE), 2 query heads and 1 kv head of
// head_dim 2, QK-norm, 4 routed experts (top 2) of hidden 3, 1 shared expert of hidden 5, dense hidden 6, untied.
TEST_CASE("parameter counts and FLOPs match a hand count") {
  ModelConfig m;
  m.vocab_size = 10;
  m.d_model = 4;
  m.n_layers = 2;
  m.n_heads = 2;
  m.n_kv_heads = 1;
  m.qk_norm = true;
  m.n_experts = 4;
  m.top_k = 2;
  m.expert_hidden = 3;
  m.n_shared_experts = 1;
  m.shared_expert_hidden = 5;
  m.first_k_dense = 1;
  m.dense_hidden = 6;
  m.tied_embeddings = false;
  // Per layer: attention q 4x4=16, k 4x2=8, v 8, o 16 -> 48; norms 4+4 + q_norm 2 + k_norm 2 -> 12.
  // Layer 0: 48 + 12 + dense SwiGLU 3*4*6=72 -> 132.
  // Layer 1: 48 + 12 + router 4*4=16 + experts 4*(3*4*3)=144 + shared 3*4*5=60 -> 280.
  // Embedding 40 + LM head 40 + final norm 4 + 132 + 280 = 496; active drops 2 of 4 experts (72) -> 424.
  const auto p = count_parameters(m);
  CHECK(p.embedding == 40);
  CHECK(p.lm_head == 40);
  CHECK(p.attention == 96);
  CHECK(p.norms == 28);
  CHECK(p.dense_ffn == 72);
  CHECK(p.routers == 16);
  CHECK(p.routed_experts == 144);
  CHECK(p.shared_experts == 60);
  CHECK(total_parameters(m) == 496);
  CHECK(active_parameters(m) == 424);
  // Matmul weights per token: LM head 40 + attention 96 + dense 72 + router 16 + 2 experts 72 + shared 60 = 356.
  // At T=8: 6*356 + 12 * 2 layers * 2 heads * 2 head_dim * 8 = 2136 + 768.
  CHECK(training_flops_per_token(m, 8) == 2904);

  m.tied_embeddings = true;
  CHECK(total_parameters(m) == 456);
  CHECK(training_flops_per_token(m, 8) == 2904);

  m.vocab_size = 0;
  CHECK_THROWS_WITH_AS(count_parameters(m),
                       "model.vocab_size: is 0 (taken from the corpus tokenizer): set it before counting parameters",
                       Error);
}

TEST_CASE("diverge config show prints the resolved JSON; config check prints ok or the error") {
  const std::string tiny = source_path("configs/tiny-cpu.json").string();
  const auto show = run_diverge("config show --config " + tiny + " --set optim.lr=1e-3 --set train.steps=50");
  REQUIRE(show.exit_code == 0);
  Config expected = Config::load(tiny, {"optim.lr=1e-3", "train.steps=50"});
  CHECK(Config::from_json(Json::parse(show.output), "show") == expected);

  const auto defaults = run_diverge("config show");
  REQUIRE(defaults.exit_code == 0);
  CHECK(Config::from_json(Json::parse(defaults.output), "show") == Config{});

  const auto ok = run_diverge("config check --config " + tiny);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.rfind("ok\n", 0) == 0);

  const auto bad = run_diverge("config check --config " + tiny + " --set model.n_expert=4");
  CHECK(bad.exit_code == 1);
  CHECK(bad.output == "error: --set model.n_expert=4: model.n_expert: unknown key (did you mean 'n_experts'?)\n");

  ScratchDir dir("config-cli");
  write_file_atomic(dir / "v.json", R"({"model": {"vocab_size": 1000}})");
  const auto sized = run_diverge("config check --config " + (dir / "v.json").string());
  CHECK(sized.exit_code == 0);
  CHECK(sized.output.find("parameters") != std::string::npos);
}
