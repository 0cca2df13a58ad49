// Tests for the corpus manifest (strict parsing, saving, label ids), describe_shard, and `diverge data inspect|verify`.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "engine/error.h"
#include "engine/files.h"
#include "engine/hash.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::data;
using diverge::test::run_diverge;
using diverge::test::ScratchDir;
using json = nlohmann::json;

namespace {

const std::string kZeroHash = "xxh3-128:" + std::string(32, '0');

// A valid manifest written by hand (not by Manifest::save): two uint16 shards of 10 and 3 tokens.
json base_manifest() {
  auto shard = [](const std::string& prefix, const std::string& coarse, const std::string& fine,
                  const std::string& split, int tokens) {
    return json{{"prefix", prefix},      {"labels", {{"coarse", coarse}, {"fine", fine}}},
                {"split", split},        {"documents", 2},
                {"tokens", tokens},      {"dtype", "uint16"},
                {"bin_hash", kZeroHash}, {"idx_hash", kZeroHash},
                {"chunk_bytes", 8},      {"bin_chunk_hashes", json::array()}};
  };
  json m = {{"format", "diverge-corpus"},
            {"version", 1},
            {"tokenizer", {{"id", "test-bpe"}, {"hash", kZeroHash}, {"vocab_size", 300}, {"eod_id", 0}}},
            {"label_systems", {"coarse", "fine"}},
            {"shards",
             {shard("code/python/train-000", "code", "code.python", "train", 10),
              shard("prose/en/val-000", "prose", "prose.en", "val", 3)}}};
  // 10 uint16 tokens = 20 bytes = 3 chunks of 8; 3 tokens = 6 bytes = 1 chunk.
  m["shards"][0]["bin_chunk_hashes"] = {kZeroHash, kZeroHash, kZeroHash};
  m["shards"][1]["bin_chunk_hashes"] = {kZeroHash};
  return m;
}

// Writes `doc` as dir/m.json and returns the message of the Error that loading it throws ("" if it loads).
std::string load_error(const ScratchDir& dir, const std::string& text) {
  write_file_atomic(dir / "m.json", text);
  try {
    Manifest::load(dir / "m.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string load_error(const ScratchDir& dir, const json& doc) { return load_error(dir, doc.dump(1)); }

void check_message(const std::string& message, const std::string& expected) {
  INFO("message: " << message);
  CHECK(message.find("m.json: ") != std::string::npos);
  CHECK(message.find(expected) != std::string::npos);
}

struct ShardSpec {
  std::string prefix, coarse, fine, split;
  std::vector<std::vector<std::int32_t>> docs;
};

std::uint64_t token_count(const ShardSpec& spec) {
  std::uint64_t n = 0;
  for (const auto& d : spec.docs) n += d.size();
  return n;
}

// Four shards over two coarse and three fine labels; token ids below 300.
std::vector<ShardSpec> corpus_specs() {
  std::vector<std::int32_t> long_doc(100);
  for (std::size_t i = 0; i < long_doc.size(); ++i) long_doc[i] = static_cast<std::int32_t>(i * 3 % 299);
  return {{"code/python/train-000", "code", "code.python", "train", {long_doc, {1, 2, 3}, {}}},
          {"code/python/val-000", "code", "code.python", "val", {{4, 5}}},
          {"code/c/train-000", "code", "code.c", "train", {{6, 7, 8, 9}, {10}}},
          {"prose/en/train-000", "prose", "prose.en", "train", {{11, 12, 13, 14, 15, 16}}}};
}

// Writes the shards and a manifest describing them (chunk_bytes 64, so the 200-byte shard has 4 chunks).
Manifest write_corpus(const fs::path& dir) {
  Manifest m;
  m.dir = dir;
  m.tokenizer = {"test-bpe", kZeroHash, 300, 0};
  m.label_systems = {"coarse", "fine"};
  for (const auto& spec : corpus_specs()) {
    IndexedDatasetWriter writer(dir / spec.prefix, TokenDtype::uint16);
    for (const auto& doc : spec.docs) writer.add_document(doc);
    writer.finish();
    ShardEntry entry = describe_shard(dir, spec.prefix, 64);
    entry.labels = {{"coarse", spec.coarse}, {"fine", spec.fine}};
    entry.split = spec.split;
    m.shards.push_back(entry);
  }
  m.save(dir / "manifest.json");
  return m;
}

void flip_byte(const fs::path& file, std::size_t offset) {
  std::string bytes = read_file(file);
  REQUIRE(offset < bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  write_file_atomic(file, bytes);
}

}  // namespace

TEST_CASE("manifest: the hand-written base loads with every field") {
  ScratchDir dir("manifest");
  REQUIRE(load_error(dir, base_manifest()).empty());
  auto m = Manifest::load(dir / "m.json");
  CHECK(m.tokenizer.id == "test-bpe");
  CHECK(m.tokenizer.vocab_size == 300);
  CHECK(m.tokenizer.eod_id == 0);
  CHECK(m.label_systems == std::vector<std::string>{"coarse", "fine"});
  REQUIRE(m.shards.size() == 2);
  CHECK(m.shards[1].prefix == "prose/en/val-000");
  CHECK(m.shards[1].labels.at("fine") == "prose.en");
  CHECK(m.shards[1].split == "val");
  CHECK(m.shards[0].tokens == 10);
  CHECK(m.shards[0].bin_chunk_hashes.size() == 3);
  CHECK(m.dir == dir.path());
  CHECK(m.shard_path(m.shards[0]) == dir.path() / "code/python/train-000");
}

TEST_CASE("manifest: save -> load round trip keeps everything") {
  ScratchDir dir("manifest");
  write_file_atomic(dir / "m.json", base_manifest().dump());
  auto original = Manifest::load(dir / "m.json");
  original.save(dir / "again.json");
  auto copy = Manifest::load(dir / "again.json");
  CHECK(copy.tokenizer.hash == original.tokenizer.hash);
  CHECK(copy.label_systems == original.label_systems);
  REQUIRE(copy.shards.size() == original.shards.size());
  for (std::size_t i = 0; i < copy.shards.size(); ++i) {
    const auto &a = copy.shards[i], &b = original.shards[i];
    CHECK(a.prefix == b.prefix);
    CHECK(a.labels == b.labels);
    CHECK(a.split == b.split);
    CHECK(a.documents == b.documents);
    CHECK(a.tokens == b.tokens);
    CHECK(a.dtype == b.dtype);
    CHECK(a.bin_hash == b.bin_hash);
    CHECK(a.idx_hash == b.idx_hash);
    CHECK(a.chunk_bytes == b.chunk_bytes);
    CHECK(a.bin_chunk_hashes == b.bin_chunk_hashes);
  }
  CHECK(json::parse(read_file(dir / "again.json")) == base_manifest());
}

TEST_CASE("manifest: bad documents are refused naming the file and the JSON path") {
  ScratchDir dir("manifest");
  auto m = base_manifest();
  SUBCASE("malformed JSON") {
    check_message(load_error(dir, std::string("{\"format\": ")), "malformed JSON at column 12: ");
  }
  SUBCASE("not an object") { check_message(load_error(dir, json::array()), "top level: must be an object"); }
  SUBCASE("missing top-level key") {
    m.erase("label_systems");
    check_message(load_error(dir, m), "missing key 'label_systems'");
  }
  SUBCASE("missing shard key") {
    m["shards"][1].erase("split");
    check_message(load_error(dir, m), "shards[1]: missing key 'split'");
  }
  SUBCASE("unknown key (a typo)") {
    m["shards"][0]["lables"] = m["shards"][0]["labels"];
    check_message(load_error(dir, m), "shards[0]: unknown key 'lables'");
  }
  SUBCASE("unknown tokenizer key") {
    m["tokenizer"]["eos_id"] = 1;
    check_message(load_error(dir, m), "tokenizer: unknown key 'eos_id'");
  }
  SUBCASE("wrong format") {
    m["format"] = "megatron";
    check_message(load_error(dir, m), "format: is 'megatron', expected 'diverge-corpus'");
  }
  SUBCASE("newer version") {
    m["version"] = 2;
    check_message(load_error(dir, m), "version: is 2");
  }
  SUBCASE("bad split") {
    m["shards"][1]["split"] = "test";
    check_message(load_error(dir, m), "shards[1].split: is 'test', expected train or val");
  }
  SUBCASE("label missing for a system") {
    m["shards"][1]["labels"].erase("fine");
    check_message(load_error(dir, m), "shards[1].labels: no label for system 'fine'");
  }
  SUBCASE("label of an undeclared system") {
    m["shards"][0]["labels"]["topic"] = "x";
    check_message(load_error(dir, m), "shards[0].labels: unknown label system 'topic'");
  }
  SUBCASE("empty label") {
    m["shards"][0]["labels"]["coarse"] = "";
    check_message(load_error(dir, m), "shards[0].labels.coarse: must be a non-empty string");
  }
  SUBCASE("no label systems") {
    m["label_systems"] = json::array();
    check_message(load_error(dir, m), "label_systems: must be a non-empty array");
  }
  SUBCASE("negative count") {
    m["shards"][0]["documents"] = -2;
    check_message(load_error(dir, m), "shards[0].documents: must be a non-negative integer, got -2");
  }
  SUBCASE("count of the wrong type") {
    m["shards"][0]["tokens"] = "10";
    check_message(load_error(dir, m), "shards[0].tokens: must be a non-negative integer, got \"10\"");
  }
  SUBCASE("unknown dtype") {
    m["shards"][0]["dtype"] = "uint12";
    check_message(load_error(dir, m), "shards[0].dtype: unknown dtype 'uint12'");
  }
  SUBCASE("malformed hash") {
    m["shards"][0]["bin_chunk_hashes"][2] = "md5:abc";
    check_message(load_error(dir, m), "shards[0].bin_chunk_hashes[2]: 'md5:abc' is not a content hash");
  }
  SUBCASE("chunk hashes that do not cover the .bin") {
    m["shards"][0]["bin_chunk_hashes"].erase(0);
    check_message(load_error(dir, m), "shards[0].bin_chunk_hashes: 2 hashes, but 10 uint16 tokens (20 bytes)");
  }
  SUBCASE("duplicate prefix") {
    m["shards"][1]["prefix"] = "code/python/train-000";
    m["shards"][1]["tokens"] = 10;
    m["shards"][1]["bin_chunk_hashes"] = {kZeroHash, kZeroHash, kZeroHash};
    check_message(load_error(dir, m), "shards[1].prefix: 'code/python/train-000' is listed twice");
  }
  SUBCASE("prefix with an extension") {
    m["shards"][0]["prefix"] = "code/python/train-000.bin";
    check_message(load_error(dir, m), "shards[0].prefix: 'code/python/train-000.bin' must not end in .bin or .idx");
  }
  SUBCASE("eod outside the vocabulary") {
    m["tokenizer"]["eod_id"] = 300;
    check_message(load_error(dir, m), "tokenizer.eod_id: is 300");
  }
}

TEST_CASE("manifest: a key given twice is refused, naming its path") {
  ScratchDir dir("manifest-duplicates");
  std::string text = base_manifest().dump();
  text.replace(text.find("\"split\":\"train\""), 15, "\"split\":\"val\",\"split\":\"train\"");
  check_message(load_error(dir, text), "m.json: shards[0].split: duplicate key (a key may appear once per object)");
  text = base_manifest().dump();
  text.insert(1, "\"version\":1,");
  check_message(load_error(dir, text), "m.json: version: duplicate key");
}

TEST_CASE("manifest: a bad value is quoted by a short prefix, however large it is") {
  ScratchDir dir("manifest-quote");
  auto m = base_manifest();
  m["version"] = json::array();
  for (int i = 0; i < 100000; ++i) m["version"].push_back(i);
  const std::string message = load_error(dir, m);
  check_message(message, "version: must be a non-negative integer, got [0,1,2,3,");
  CHECK(message.size() < 200);
  m = base_manifest();
  m["shards"][0]["tokens"] = std::string(100000, 'x');
  check_message(load_error(dir, m), "shards[0].tokens: must be a non-negative integer, got \"xxxxxxxx");
  CHECK(load_error(dir, m).size() < 200);
}

TEST_CASE("manifest: nesting beyond the reader's limit is an error naming the file, not a crash") {
  ScratchDir dir("manifest-deep");
  check_message(load_error(dir, std::string(100000, '[') + std::string(100000, ']')), "nest deeper than 128 levels");
  std::string text = base_manifest().dump();
  text.replace(text.find("\"version\":1"), 11, "\"version\":" + std::string(100000, '[') + std::string(100000, ']'));
  write_file_atomic(dir / "manifest.json", text);
  auto r = run_diverge("data inspect " + dir.path().string());
  CHECK(r.exit_code == 1);
  CHECK(r.output.rfind("error: " + (dir / "manifest.json").string() + ": version[0][0]", 0) == 0);
}

TEST_CASE("manifest: a missing file is named") {
  ScratchDir dir("manifest");
  CHECK_THROWS_WITH_AS(Manifest::load(dir / "none.json"), doctest::Contains("none.json"), Error);
}

TEST_CASE("manifest: labels_of lists sorted distinct labels and refuses an unknown system") {
  ScratchDir dir("manifest");
  auto m = base_manifest();
  m["shards"].push_back(m["shards"][0]);
  m["shards"][2]["prefix"] = "code/c/train-000";
  m["shards"][2]["labels"]["fine"] = "code.c";
  REQUIRE(load_error(dir, m).empty());
  auto loaded = Manifest::load(dir / "m.json");
  CHECK(loaded.labels_of("coarse") == std::vector<std::string>{"code", "prose"});
  CHECK(loaded.labels_of("fine") == std::vector<std::string>{"code.c", "code.python", "prose.en"});
  CHECK_THROWS_WITH_AS(loaded.labels_of("topic"), doctest::Contains("m.json: unknown label system 'topic'"), Error);
}

TEST_CASE("manifest: save refuses a manifest that would not load") {
  ScratchDir dir("manifest");
  write_file_atomic(dir / "m.json", base_manifest().dump());
  auto m = Manifest::load(dir / "m.json");
  m.shards[0].labels.erase("fine");
  CHECK_THROWS_WITH_AS(m.save(dir / "bad.json"), doctest::Contains("shards[0].labels: no label for system 'fine'"),
                       Error);
  CHECK_FALSE(fs::exists(dir / "bad.json"));
}

TEST_CASE("find_manifest accepts a corpus directory or a manifest file") {
  ScratchDir dir("manifest");
  write_file_atomic(dir / "manifest.json", "{}");
  CHECK(find_manifest(dir.path()) == dir.path() / "manifest.json");
  CHECK(find_manifest(dir / "manifest.json") == dir.path() / "manifest.json");
  CHECK_THROWS_WITH_AS(find_manifest(dir / "nope"), doctest::Contains("nope: no such file or directory"), Error);
  fs::create_directories(dir / "empty");
  CHECK_THROWS_WITH_AS(find_manifest(dir / "empty"), doctest::Contains("no manifest.json"), Error);
}

TEST_CASE("describe_shard reads counts and hashes from the files") {
  ScratchDir dir("manifest");
  const auto spec = corpus_specs()[0];
  IndexedDatasetWriter writer(dir / spec.prefix, TokenDtype::uint16);
  for (const auto& doc : spec.docs) writer.add_document(doc);
  writer.finish();
  auto entry = describe_shard(dir.path(), spec.prefix, 64);
  CHECK(entry.prefix == spec.prefix);
  CHECK(entry.documents == spec.docs.size());
  CHECK(entry.tokens == token_count(spec));
  CHECK(entry.dtype == "uint16");
  CHECK(entry.chunk_bytes == 64);
  const std::string bin = read_file(bin_path(dir / spec.prefix));
  REQUIRE(bin.size() == 2 * token_count(spec));
  CHECK(entry.bin_hash == content_hash(bin));
  CHECK(entry.idx_hash == content_hash(read_file(idx_path(dir / spec.prefix))));
  REQUIRE(entry.bin_chunk_hashes.size() == (bin.size() + 63) / 64);
  for (std::size_t i = 0; i < entry.bin_chunk_hashes.size(); ++i)
    CHECK(entry.bin_chunk_hashes[i] == content_hash(std::string_view(bin).substr(i * 64, 64)));
}

TEST_CASE("data verify: a good corpus passes, a flipped byte is placed in its chunk") {
  ScratchDir dir("verify");
  write_corpus(dir.path());
  auto ok = run_diverge("data verify " + dir.path().string());
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(ok.output.find("ok: 4 shards, 7 documents, 116 tokens") != std::string::npos);

  // Byte 150 of the first shard's .bin lies in the third 64-byte chunk: [128, 192).
  flip_byte(dir / "code/python/train-000.bin", 150);
  auto bad = run_diverge("data verify " + (dir / "manifest.json").string());
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("code/python/train-000.bin: bytes [128, 192) do not match the manifest checksum") !=
        std::string::npos);
  CHECK(bad.output.find("1 of 4 shards do not match") != std::string::npos);
}

TEST_CASE("data verify: the last, partial chunk is named with the file's end") {
  ScratchDir dir("verify");
  write_corpus(dir.path());
  // The first shard holds 103 uint16 tokens = 206 bytes; its last chunk is [192, 206).
  flip_byte(dir / "code/python/train-000.bin", 205);
  auto bad = run_diverge("data verify " + dir.path().string());
  INFO(bad.output);
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("train-000.bin: bytes [192, 206) do not match") != std::string::npos);
}

TEST_CASE("data verify: count, index, missing-file and vocabulary problems are each reported") {
  ScratchDir dir("verify");
  auto m = write_corpus(dir.path());
  SUBCASE("document count") {
    m.shards[2].documents = 3;
    m.save(dir / "manifest.json");
    auto r = run_diverge("data verify " + dir.path().string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("code/c/train-000.idx: documents 2, the manifest says 3") != std::string::npos);
  }
  SUBCASE("index changed") {
    m.shards[1].idx_hash = kZeroHash;
    m.save(dir / "manifest.json");
    auto r = run_diverge("data verify " + dir.path().string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("code/python/val-000.idx: does not match the manifest checksum") != std::string::npos);
  }
  SUBCASE("missing shard") {
    fs::remove(dir / "prose/en/train-000.idx");
    auto r = run_diverge("data verify " + dir.path().string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("prose/en/train-000.idx: cannot open") != std::string::npos);
  }
  SUBCASE("token beyond the vocabulary") {
    m.tokenizer.vocab_size = 16;  // the prose shard holds token 16
    m.save(dir / "manifest.json");
    auto r = run_diverge("data verify " + dir.path().string());
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("prose/en/train-000.bin: token 16 at token offset 5 is outside the tokenizer's vocabulary "
                        "of 16") != std::string::npos);
  }
}

TEST_CASE("data inspect: per-label tables and JSON with counts summed independently") {
  ScratchDir dir("inspect");
  write_corpus(dir.path());
  // Expected from the specs: code.python train 103 + val 2 tokens, code.c 5, prose.en 6; 116 in all.
  auto table = run_diverge("data inspect " + dir.path().string());
  INFO(table.output);
  CHECK(table.exit_code == 0);
  CHECK(table.output.find("test-bpe (vocab 300, eod 0") != std::string::npos);
  CHECK(table.output.find("4 (3 train, 1 val), 7 documents, 116 tokens (114 train, 2 val)") != std::string::npos);
  CHECK(table.output.find("label system 'coarse': 2 labels") != std::string::npos);
  CHECK(table.output.find("label system 'fine': 3 labels") != std::string::npos);
  CHECK(table.output.find("code.python") != std::string::npos);
  CHECK(table.output.find("94.83%") != std::string::npos);  // code: 110 of 116 tokens

  auto out = run_diverge("data inspect --json " + dir.path().string());
  REQUIRE(out.exit_code == 0);
  auto j = json::parse(out.output);
  CHECK(j["totals"]["tokens"] == 116);
  CHECK(j["totals"]["documents"] == 7);
  const auto& fine = j["label_systems"][1];
  CHECK(fine["system"] == "fine");
  REQUIRE(fine["labels"].size() == 3);
  CHECK(fine["labels"][0]["label"] == "code.c");
  CHECK(fine["labels"][0]["tokens"] == 5);
  CHECK(fine["labels"][1]["label"] == "code.python");
  CHECK(fine["labels"][1]["shards"] == 2);
  CHECK(fine["labels"][1]["train_tokens"] == 103);
  CHECK(fine["labels"][1]["val_tokens"] == 2);
  CHECK(fine["labels"][2]["token_share"].get<double>() == doctest::Approx(6.0 / 116.0));
}

TEST_CASE("data inspect: a bad manifest gives one error line and exit 1") {
  ScratchDir dir("inspect");
  write_file_atomic(dir / "manifest.json", "{\"format\": \"diverge-corpus\"}");
  auto r = run_diverge("data inspect " + dir.path().string());
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("manifest.json: missing key 'version'") != std::string::npos);
}
