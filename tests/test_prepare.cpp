// Tests for `diverge prepare`: JSONL (plain and .xz) -> shards + manifest, thread-count invariance, input errors.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/prepare/prepare.h"
#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "data/tokenizer/tokenizer.h"
#include "engine/error.h"
#include "engine/files.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::data;
using diverge::test::ScratchDir;
using diverge::test::source_path;

namespace {

const fs::path kTokenizer = source_path("data/vocab/tiktoken/r50k_base.tiktoken");

struct Doc {
  std::string text, coarse, fine;
};

const std::vector<Doc> kTrainDocs = {
    {"def add(a, b):\n    return a + b\n", "code", "code.python"},
    {"int main() { return 0; }\n", "code", "code.c"},
    {"In the beginning was the Word.", "prose", "prose.religious"},
    {"for i in range(3):\n    print(i)\n", "code", "code.python"},
    {"It is a truth universally acknowledged...", "prose", "prose.literature"},
    {"Unicode: \xce\xb1\xce\xb2\xce\xb3 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80", "prose", "prose.literature"},
};

std::string jsonl_line(const Doc& d, const std::string& extra = "") {
  nlohmann::json j = {{"text", d.text}, {"coarse", d.coarse}, {"fine", d.fine}};
  std::string s = j.dump();
  if (!extra.empty()) s = s.substr(0, s.size() - 1) + "," + extra + "}";
  return s + "\n";
}

void write_jsonl(const fs::path& path, const std::vector<Doc>& docs) {
  std::string body;
  for (const auto& d : docs) body += jsonl_line(d);
  write_file_atomic(path, body);
}

PrepareOptions options_for(const ScratchDir& dir, const std::string& out, unsigned threads) {
  PrepareOptions o;
  o.inputs = {dir / "in"};
  o.tokenizer = kTokenizer;
  o.output = dir / out;
  o.threads = threads;
  return o;
}

std::string error_of(const PrepareOptions& o) {
  try {
    prepare_corpus(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("prepare writes one shard series per label tuple and split, documents end with EOD") {
  ScratchDir dir("prepare");
  fs::create_directories(dir / "in");
  write_jsonl(dir / "in/train.jsonl", kTrainDocs);
  write_jsonl(dir / "in/val.jsonl", {kTrainDocs[0], kTrainDocs[2]});
  REQUIRE(std::system(("xz -z -k " + (dir / "in/val.jsonl").string()).c_str()) == 0);
  fs::remove(dir / "in/val.jsonl");

  auto stats = prepare_corpus(options_for(dir, "corpus", 2));
  CHECK(stats.documents == 8);
  Manifest m = Manifest::load(dir / "corpus/manifest.json");
  CHECK(m.label_systems == std::vector<std::string>{"coarse", "fine"});
  CHECK(m.shards.size() == 6);  // 4 fine domains in train, 2 in val
  CHECK(m.labels_of("coarse") == std::vector<std::string>{"code", "prose"});

  Tokenizer tok = Tokenizer::load(kTokenizer);
  CHECK(m.tokenizer.eod_id == tok.eod_id());
  CHECK(m.tokenizer.vocab_size == tok.vocab_size());
  std::uint64_t docs = 0;
  for (const auto& shard : m.shards) {
    IndexedDataset ds(m.shard_path(shard));
    CHECK(ds.num_documents() == shard.documents);
    CHECK(ds.num_tokens() == shard.tokens);
    docs += ds.num_documents();
    for (std::size_t d = 0; d < ds.num_documents(); ++d) {
      std::vector<std::int32_t> ids(ds.document_length(d));
      ds.read_document(d, 0, ids.size(), ids.data());
      REQUIRE(!ids.empty());
      CHECK(ids.back() == tok.eod_id());
      ids.pop_back();
      std::string text = tok.decode(ids);
      bool found = false;
      for (const auto& src : kTrainDocs)
        found |= src.text == text && src.fine == shard.labels.at("fine") && src.coarse == shard.labels.at("coarse");
      CHECK_MESSAGE(found, "decoded text not among the inputs of its domain: " << text);
    }
  }
  CHECK(docs == 8);
}

TEST_CASE("prepare output does not depend on the thread count, and shards roll over") {
  ScratchDir dir("prepare");
  fs::create_directories(dir / "in");
  std::vector<Doc> many;
  for (int i = 0; i < 300; ++i)
    many.push_back(kTrainDocs[static_cast<std::size_t>(i) % kTrainDocs.size()]);
  write_jsonl(dir / "in/train.jsonl", many);
  auto one = options_for(dir, "one", 1);
  one.shard_tokens = 500;
  auto two = options_for(dir, "two", 2);
  two.shard_tokens = 500;
  prepare_corpus(one);
  prepare_corpus(two);
  Manifest a = Manifest::load(dir / "one/manifest.json");
  Manifest b = Manifest::load(dir / "two/manifest.json");
  REQUIRE(a.shards.size() == b.shards.size());
  CHECK(a.shards.size() > 4);  // every domain rolled over at least once
  for (std::size_t i = 0; i < a.shards.size(); ++i) {
    CHECK(a.shards[i].prefix == b.shards[i].prefix);
    CHECK(a.shards[i].bin_hash == b.shards[i].bin_hash);
    CHECK(a.shards[i].tokens <= 500);
  }
}

TEST_CASE("prepare names the file and line of bad input") {
  ScratchDir dir("prepare");
  fs::create_directories(dir / "in");
  auto o = options_for(dir, "corpus", 1);

  write_file_atomic(dir / "in/train.jsonl", jsonl_line(kTrainDocs[0]) + "{not json\n");
  CHECK(error_of(o).find("train.jsonl:2: malformed JSON at column 3: ") != std::string::npos);

  write_file_atomic(dir / "in/train.jsonl",
                    "{\"text\": \"x\", \"text\": \"y\", \"coarse\": \"a\", \"fine\": \"a.b\"}\n");
  CHECK(error_of(o).find("train.jsonl:1: text: duplicate key") != std::string::npos);

  write_file_atomic(dir / "in/train.jsonl", "{\"text\": \"x\", \"coarse\": \"code\"}\n");
  CHECK(error_of(o).find("train.jsonl:1: missing string label 'fine'") != std::string::npos);

  write_file_atomic(dir / "in/train.jsonl", jsonl_line(kTrainDocs[0], "\"split\": \"test\""));
  CHECK(error_of(o).find("split must be 'train' or 'val'") != std::string::npos);

  write_file_atomic(dir / "in/train.jsonl", jsonl_line({"x", "code", "../etc"}));
  CHECK(error_of(o).find("fine: label '../etc'") != std::string::npos);

  fs::remove(dir / "in/train.jsonl");
  write_jsonl(dir / "in/docs.jsonl", kTrainDocs);
  CHECK(error_of(o).find("docs.jsonl:1: no split") != std::string::npos);

  fs::remove(dir / "in/docs.jsonl");
  CHECK(error_of(o).find("holds no .jsonl") != std::string::npos);
}

TEST_CASE("prepare refuses to overwrite a corpus without --force") {
  ScratchDir dir("prepare");
  fs::create_directories(dir / "in");
  write_jsonl(dir / "in/train.jsonl", kTrainDocs);
  auto o = options_for(dir, "corpus", 1);
  prepare_corpus(o);
  CHECK(error_of(o).find("already holds a corpus") != std::string::npos);
  o.force = true;
  CHECK_NOTHROW(prepare_corpus(o));
}
