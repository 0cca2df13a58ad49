// Tests for the training data loader: one-domain rows, epochs, blend counts, rank split, state, validation, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "data/loader/blender.h"
#include "data/loader/indexed_source.h"
#include "data/loader/labelled_corpus.h"
#include "data/loader/loader_state.h"
#include "data/loader/manifest_corpus.h"
#include "data/loader/memory_source.h"
#include "data/loader/splitmix.h"
#include "data/loader/train_loader.h"
#include "data/loader/val_reader.h"
#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "engine/error.h"
#include "engine/hash.h"
#include "tests/support.h"

using namespace diverge;
using namespace diverge::data;
using diverge::test::ScratchDir;

namespace {

struct DomainSpec {
  std::string coarse, fine, split;
  int documents;
  int shards;
};

// Index in this list = the domain code every token carries. math.cas exists in val only.
const std::vector<DomainSpec> kDomains = {
    {"prose", "prose.literature", "train", 40, 2},
    {"prose", "prose.techdoc", "train", 25, 1},
    {"code", "code.c", "train", 30, 2},
    {"code", "code.python", "train", 20, 1},
    {"math", "math.formal.coq", "train", 15, 1},
    {"math", "math.formal.coq", "val", 6, 1},
    {"math", "math.cas", "val", 5, 2},
    {"code", "code.c", "val", 4, 1},
};
// Sorted by hand: the ids a batch must report.
const std::vector<std::string> kCoarseLabels = {"code", "math", "prose"};
const std::vector<std::string> kFineLabels = {"code.c",          "code.python",      "math.cas",
                                              "math.formal.coq", "prose.literature", "prose.techdoc"};

// Token = domain * 8192 + document * 64 + position (< 65536, so shards store it as uint16): any token tells
// where it came from.
std::int32_t token_of(int domain, int document, int position) { return domain * 8192 + document * 64 + position; }
int domain_of(std::int32_t token) { return token / 8192; }
constexpr std::uint64_t kVocabSize = 65536;  // every token_of is below it
int document_of(std::int32_t token) { return token / 64 % 128; }
int position_of(std::int32_t token) { return token % 64; }

int document_length(int domain, int document) { return 1 + (domain * 7919 + document * 104729) % 37; }

// The documents of one domain, in stored order (shard after shard).
std::vector<std::vector<std::int32_t>> domain_documents(int domain, int extra_documents = 0) {
  std::vector<std::vector<std::int32_t>> docs;
  for (int d = 0; d < kDomains[static_cast<std::size_t>(domain)].documents + extra_documents; ++d) {
    std::vector<std::int32_t> doc;
    for (int p = 0; p < document_length(domain, d); ++p) doc.push_back(token_of(domain, d, p));
    docs.push_back(std::move(doc));
  }
  return docs;
}

std::vector<LabelledSource> domain_shards(int domain, int extra_documents) {
  const auto& spec = kDomains[static_cast<std::size_t>(domain)];
  auto docs = domain_documents(domain, extra_documents);
  std::vector<LabelledSource> shards;
  const std::size_t per_shard =
      (docs.size() + static_cast<std::size_t>(spec.shards) - 1) / static_cast<std::size_t>(spec.shards);
  for (std::size_t first = 0; first < docs.size(); first += per_shard) {
    const std::size_t last = std::min(docs.size(), first + per_shard);
    std::vector<std::vector<std::int32_t>> part(docs.begin() + static_cast<std::ptrdiff_t>(first),
                                                docs.begin() + static_cast<std::ptrdiff_t>(last));
    shards.push_back({spec.fine + "-" + spec.split + "-" + std::to_string(first),
                      {{"coarse", spec.coarse}, {"fine", spec.fine}},
                      spec.split,
                      std::make_shared<MemorySource>(std::move(part))});
  }
  return shards;
}

// The test corpus; extra_documents grows the first domain (a "different corpus").
LabelledCorpus make_corpus(int extra_documents = 0) {
  std::vector<LabelledSource> shards;
  for (int d = 0; d < static_cast<int>(kDomains.size()); ++d)
    for (auto& shard : domain_shards(d, d == 0 ? extra_documents : 0)) shards.push_back(std::move(shard));
  return LabelledCorpus(std::move(shards));
}

// The same shards written as Megatron indexed datasets (uint16) under dir and read back through IndexedSource.
LabelledCorpus written_to_disk(const LabelledCorpus& corpus, const fs::path& dir) {
  std::vector<LabelledSource> shards;
  for (const auto& shard : corpus.shards()) {
    IndexedDatasetWriter writer(dir / shard.name, TokenDtype::uint16);
    for (std::size_t d = 0; d < shard.source->num_documents(); ++d) {
      std::vector<std::int32_t> doc(shard.source->document_length(d));
      shard.source->read_document(d, 0, doc.size(), doc.data());
      writer.add_document(doc);
    }
    writer.finish();
    shards.push_back(
        {shard.name, shard.labels, shard.split, std::make_shared<IndexedSource>(dir / shard.name, kVocabSize)});
  }
  return LabelledCorpus(std::move(shards));
}

// A manifest for the shards written_to_disk put in dir, saved as dir/manifest.json and loaded back.
Manifest manifest_for(const LabelledCorpus& corpus, const fs::path& dir) {
  Manifest m;
  m.dir = dir;
  m.tokenizer = {"test-tokens", content_hash("test-tokens"), kVocabSize, 0};
  m.label_systems = {"coarse", "fine"};
  for (const auto& shard : corpus.shards()) {
    ShardEntry entry = describe_shard(dir, shard.name);
    entry.labels = shard.labels;
    entry.split = shard.split;
    m.shards.push_back(std::move(entry));
  }
  m.save(dir / "manifest.json");
  return Manifest::load(dir / "manifest.json");
}

LoaderConfig config(std::int64_t batch_size, std::int64_t seq_len, std::uint64_t seed = 1234, int rank = 0,
                    int world = 1) {
  LoaderConfig c;
  c.batch_size = batch_size;
  c.seq_len = seq_len;
  c.seed = seed;
  c.rank = rank;
  c.world = world;
  return c;
}

std::int32_t index_in(const std::vector<std::string>& list, const std::string& name) {
  return static_cast<std::int32_t>(std::find(list.begin(), list.end(), name) - list.begin());
}

std::vector<std::int32_t> row_of(const Batch& b, std::int64_t r) {
  const auto first = b.tokens.begin() + static_cast<std::ptrdiff_t>(r * b.row_len);
  return {first, first + static_cast<std::ptrdiff_t>(b.row_len)};
}

// Token t2 may follow t1 in a stream: the next position of one document, or the start of another after a last token.
bool follows(std::int32_t t1, std::int32_t t2) {
  const int domain = domain_of(t1);
  if (domain_of(t2) != domain) return false;
  if (document_of(t1) == document_of(t2) && position_of(t2) == position_of(t1) + 1) return true;
  return position_of(t1) == document_length(domain, document_of(t1)) - 1 && position_of(t2) == 0;
}

bool same_batches(const Batch& a, const Batch& b) {
  return a.tokens == b.tokens && a.domain == b.domain && a.stream == b.stream && a.stream_sample == b.stream_sample;
}

template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("splitmix64 matches the published reference sequence and permutations are seeded") {
  // Vigna's splitmix64.c from seed 1234567 (the Rosetta Code task lists the same five numbers).
  SplitMix64 rng(1234567);
  CHECK(rng.next() == 6457827717110365317ULL);
  CHECK(rng.next() == 3203168211198807973ULL);
  CHECK(rng.next() == 9817491932198370423ULL);
  CHECK(rng.next() == 4593380528125082431ULL);
  CHECK(rng.next() == 16408922859458223821ULL);

  for (std::uint64_t bound : {1ULL, 2ULL, 7ULL, 1000ULL}) CHECK(rng.below(bound) < bound);
  auto p = seeded_permutation(1000, 42);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint64_t i = 0; i < 1000; ++i) REQUIRE(sorted[i] == i);
  CHECK(p == seeded_permutation(1000, 42));
  CHECK(p != seeded_permutation(1000, 43));
  CHECK(hash_words({1, 2, 3}) != hash_words({3, 2, 1}));
}

TEST_CASE("a stream cuts its concatenated documents into samples that share one boundary token") {
  // Documents [1 2 3] [4 5]: N = 5 tokens.
  auto source = std::make_shared<MemorySource>(std::vector<std::vector<std::int32_t>>{{1, 2, 3}, {4, 5}});
  Stream t2("s", "val", {{"fine", "x"}}, {0}, {source}, 2, std::nullopt);
  CHECK(t2.num_tokens() == 5);
  CHECK(t2.num_documents() == 2);
  REQUIRE(t2.samples_per_epoch() == 2);  // floor((5 - 1) / 2)
  std::vector<std::int32_t> row(3);
  t2.read_sample(0, row.data());
  CHECK(row == std::vector<std::int32_t>{1, 2, 3});
  t2.read_sample(1, row.data());
  CHECK(row == std::vector<std::int32_t>{3, 4, 5});
  t2.read_sample(2, row.data());  // epoch 1, unshuffled: the same as sample 0
  CHECK(row == std::vector<std::int32_t>{1, 2, 3});

  Stream t4("s", "val", {{"fine", "x"}}, {0}, {source}, 4, std::nullopt);
  CHECK(t4.samples_per_epoch() == 1);
  Stream t5("s", "val", {{"fine", "x"}}, {0}, {source}, 5, std::nullopt);
  CHECK(t5.samples_per_epoch() == 0);
  CHECK_THROWS_AS(t5.read_sample(0, row.data()), Error);
}

TEST_CASE("an epoch reads every document of the stream whole, once, and the next epoch reshuffles") {
  auto corpus = make_corpus();
  auto streams = corpus.streams("train", 16, 99);
  for (auto& stream : streams) {
    const std::uint64_t spe = stream.samples_per_epoch();
    std::vector<std::vector<std::int32_t>> epochs;
    for (std::uint64_t epoch = 0; epoch < 2; ++epoch) {
      // The epoch's token sequence: T tokens of every sample plus the last sample's final token.
      std::vector<std::int32_t> text;
      std::vector<std::int32_t> row(17);
      for (std::uint64_t i = 0; i < spe; ++i) {
        stream.read_sample(epoch * spe + i, row.data());
        if (i > 0) CHECK(row.front() == text.back());  // the shared boundary token
        text.insert(text.end(), row.begin() + (i > 0 ? 1 : 0), row.end());
      }
      REQUIRE(text.size() == spe * 16 + 1);
      CHECK(position_of(text.front()) == 0);
      for (std::size_t k = 1; k < text.size(); ++k) REQUIRE(follows(text[k - 1], text[k]));
      // Every token at most once; all but at most the last (partial, dropped) document appear.
      std::set<std::int32_t> distinct(text.begin(), text.end());
      CHECK(distinct.size() == text.size());
      // Documents left out of the epoch fit in the tail of fewer than T tokens that no sample reaches.
      std::set<int> documents;
      for (auto t : text) documents.insert(document_of(t));
      const std::uint64_t tail = stream.num_tokens() - text.size();
      CHECK(tail < 16);
      std::uint64_t left_out = 0;
      const int domain = domain_of(text.front());
      for (int d = 0; d < static_cast<int>(stream.num_documents()); ++d)
        if (documents.count(d) == 0) left_out += static_cast<std::uint64_t>(document_length(domain, d));
      CHECK(left_out <= tail);
      epochs.push_back(text);
    }
    CHECK(epochs[0] != epochs[1]);
  }
}

TEST_CASE("every row holds tokens of one stream and carries that stream's label ids") {
  auto corpus = make_corpus();
  TrainLoader loader(corpus, config(8, 32));
  REQUIRE(loader.streams().size() == 5);
  CHECK(loader.label_systems() == std::vector<std::string>{"coarse", "fine"});
  for (int step = 0; step < 50; ++step) {
    Batch b = loader.next_batch();
    REQUIRE(b.rows == 8);
    REQUIRE(b.row_len == 33);
    REQUIRE(b.tokens.size() == 8 * 33);
    for (std::int64_t r = 0; r < b.rows; ++r) {
      const auto row = row_of(b, r);
      const int domain = domain_of(row[0]);
      for (std::size_t k = 1; k < row.size(); ++k) REQUIRE(follows(row[k - 1], row[k]));
      const auto& spec = kDomains[static_cast<std::size_t>(domain)];
      CHECK(spec.split == "train");
      const auto u = static_cast<std::size_t>(r);
      CHECK(loader.streams()[static_cast<std::size_t>(b.stream[u])].labels().at("fine") == spec.fine);
      CHECK(b.domain.at("coarse")[u] == index_in(kCoarseLabels, spec.coarse));
      CHECK(b.domain.at("fine")[u] == index_in(kFineLabels, spec.fine));
    }
  }
  CHECK(corpus.labels_of("fine") == kFineLabels);
}

TEST_CASE("blend counts stay within one sample of weight * n, for explicit and token-proportional weights") {
  auto corpus = make_corpus();
  for (const char* weights : {R"({"coarse": {"prose": 1, "code": 2, "math": 1}})", "null",
                              R"({"fine": {"prose.literature": 3, "prose.techdoc": 0, "code.c": 1,
                                           "code.python": 1, "math.formal.coq": 5}})"}) {
    CAPTURE(weights);
    auto c = config(1, 4);
    c.weights = nlohmann::json::parse(weights);
    TrainLoader loader(corpus, c);
    const auto& streams = loader.streams();

    // Expected weight of each stream, derived here from the rule in words, not from the loader's weights().
    std::map<std::string, double> label_weight;
    std::string system = "fine";
    if (!c.weights.is_null()) {
      system = c.weights.begin().key();
      for (const auto& [label, w] : c.weights.begin().value().items()) label_weight[label] = w.get<double>();
    } else {
      for (const auto& s : streams) label_weight[s.labels().at(system)] = 0;
      for (const auto& s : streams) label_weight[s.labels().at(system)] += static_cast<double>(s.num_tokens());
    }
    std::map<std::string, double> label_tokens;
    for (const auto& s : streams) label_tokens[s.labels().at(system)] += static_cast<double>(s.num_tokens());
    double total = 0;
    for (const auto& [label, w] : label_weight) total += w;
    std::vector<double> expected;
    for (const auto& s : streams) {
      const std::string& label = s.labels().at(system);
      expected.push_back(label_weight[label] / total * static_cast<double>(s.num_tokens()) / label_tokens[label]);
    }

    std::vector<double> taken(streams.size(), 0);
    for (int n = 1; n <= 10000; ++n) {
      Batch b = loader.next_batch();
      taken[static_cast<std::size_t>(b.stream[0])] += 1;
      for (std::size_t s = 0; s < streams.size(); ++s) REQUIRE(std::abs(taken[s] - expected[s] * n) < 1.0);
    }
    for (std::size_t s = 0; s < streams.size(); ++s)
      if (expected[s] == 0) CHECK(taken[s] == 0);
  }
}

TEST_CASE("the blender breaks ties toward the lowest stream and resumes from its counts") {
  Blender even({1, 1, 1});
  CHECK(even.next() == 0);
  CHECK(even.next() == 1);
  CHECK(even.next() == 2);
  CHECK(even.next() == 0);
  Blender resumed({1, 1, 1});
  resumed.restore(4, {2, 1, 1});
  CHECK(resumed.next() == 1);
  CHECK_THROWS_AS(resumed.restore(5, {2, 1, 1}), Error);
  CHECK_THROWS_AS(resumed.restore(4, {2, 2}), Error);
  CHECK_THROWS_AS(Blender({0, 0}), Error);
  CHECK_THROWS_AS(Blender({1, -1}), Error);
}

TEST_CASE("four ranks together read exactly the one-rank run's samples, each sample once") {
  auto corpus = make_corpus();
  constexpr int kWorld = 4;
  constexpr std::int64_t kRows = 3;
  TrainLoader single(corpus, config(kRows * kWorld, 16));
  std::vector<TrainLoader> ranks;
  for (int r = 0; r < kWorld; ++r) ranks.emplace_back(corpus, config(kRows, 16, 1234, r, kWorld));
  std::set<std::pair<std::int32_t, std::uint64_t>> seen;
  for (int step = 0; step < 40; ++step) {
    Batch all = single.next_batch();
    for (int r = 0; r < kWorld; ++r) {
      Batch mine = ranks[static_cast<std::size_t>(r)].next_batch();
      for (std::int64_t i = 0; i < kRows; ++i) {
        const std::int64_t global_row = r * kRows + i;
        REQUIRE(row_of(mine, i) == row_of(all, global_row));
        const auto u = static_cast<std::size_t>(i);
        CHECK(mine.stream[u] == all.stream[static_cast<std::size_t>(global_row)]);
        CHECK(seen.insert({mine.stream[u], mine.stream_sample[u]}).second);
      }
    }
  }
  CHECK(seen.size() == 40 * kWorld * kRows);
}

TEST_CASE("one seed gives identical batches on two loaders; another seed gives other tokens, same blend") {
  auto corpus = make_corpus();
  TrainLoader a(corpus, config(4, 16, 7));
  TrainLoader b(corpus, config(4, 16, 7));
  TrainLoader other(corpus, config(4, 16, 8));
  bool tokens_differ = false;
  for (int step = 0; step < 60; ++step) {
    Batch x = a.next_batch();
    Batch y = b.next_batch();
    Batch z = other.next_batch();
    REQUIRE(same_batches(x, y));
    CHECK(x.stream == z.stream);
    tokens_differ = tokens_differ || x.tokens != z.tokens;
  }
  CHECK(tokens_differ);
}

TEST_CASE("state save -> JSON -> restore gives the identical next 20 batches, also on another rank layout") {
  auto corpus = make_corpus();
  TrainLoader original(corpus, config(8, 16, 5));
  for (int step = 0; step < 37; ++step) original.next_batch();  // crosses epochs of the small streams
  const std::string saved = original.state().to_json().dump();

  TrainLoader resumed(corpus, config(8, 16, 5));
  resumed.restore(LoaderState::from_json(nlohmann::json::parse(saved), "state.json", "loader"));
  std::vector<TrainLoader> halves;
  for (int r = 0; r < 2; ++r) halves.emplace_back(corpus, config(4, 16, 5, r, 2));
  for (auto& half : halves) half.restore(LoaderState::from_json(nlohmann::json::parse(saved), "state.json", "loader"));

  for (int step = 0; step < 20; ++step) {
    Batch expected = original.next_batch();
    REQUIRE(same_batches(resumed.next_batch(), expected));
    for (int r = 0; r < 2; ++r) {
      Batch half = halves[static_cast<std::size_t>(r)].next_batch();
      for (std::int64_t i = 0; i < 4; ++i) REQUIRE(row_of(half, i) == row_of(expected, r * 4 + i));
    }
  }
  CHECK(resumed.state().to_json() == original.state().to_json());
}

TEST_CASE("restoring a state saved for another seed, sequence length or corpus is refused with the difference") {
  auto corpus = make_corpus();
  TrainLoader saved_from(corpus, config(2, 16, 5));
  saved_from.next_batch();
  const LoaderState state = saved_from.state();
  const std::string prefix = "loader state was saved for a different corpus/seed/sequence length: ";

  TrainLoader other_seed(corpus, config(2, 16, 6));
  auto e = error_of([&] { other_seed.restore(state); });
  CHECK(contains(e, prefix));
  CHECK(contains(e, "seed 5 (saved) vs 6 (now)"));

  TrainLoader other_length(corpus, config(2, 8, 5));
  CHECK(contains(error_of([&] { other_length.restore(state); }), "seq_len 16 (saved) vs 8 (now)"));

  auto bigger = make_corpus(1);
  TrainLoader other_corpus(bigger, config(2, 16, 5));
  e = error_of([&] { other_corpus.restore(state); });
  CHECK(contains(e, prefix));
  CHECK(contains(e, "stream 'coarse=prose,fine=prose.literature'"));

  auto j = state.to_json();
  j.erase("global_sample");
  CHECK(contains(error_of([&] { LoaderState::from_json(j, "ckpt/state.json", "loader"); }),
                 "ckpt/state.json: loader: missing key 'global_sample'"));
  j = state.to_json();
  j["streams"][1]["taken"] = -3;
  CHECK(contains(error_of([&] { LoaderState::from_json(j, "ckpt/state.json", "loader"); }),
                 "ckpt/state.json: loader.streams[1].taken: expected a non-negative integer, got -3"));
}

TEST_CASE("a loader state whose taken counts do not sum to its cursor is refused naming the file and the key") {
  auto corpus = make_corpus();
  TrainLoader saved_from(corpus, config(2, 16, 5));
  saved_from.next_batch();
  auto j = saved_from.state().to_json();
  j["streams"][0]["taken"] = j["streams"][0]["taken"].get<std::uint64_t>() + 1;
  CHECK(contains(error_of([&] { LoaderState::from_json(j, "ckpt/state.json", "loader"); }),
                 "ckpt/state.json: loader.global_sample: is 2 but the streams' taken counts do not sum to it"));
  j["streams"][0]["taken"] = std::numeric_limits<std::uint64_t>::max();
  CHECK(contains(error_of([&] { LoaderState::from_json(j, "ckpt/state.json", "loader"); }),
                 "do not sum to it"));
}

TEST_CASE("the validation reader walks a domain's val samples in stored order, B at a time, then ends") {
  auto corpus = make_corpus();
  constexpr std::int64_t kT = 8;
  ValReader reader(corpus, "coarse", "math", 5, kT);
  REQUIRE(reader.streams().size() == 2);  // math.cas, math.formal.coq (val only)

  // Expected rows, built here from the documents: streams sorted by fine label, each its stored concatenation.
  std::vector<std::vector<std::int32_t>> expected;
  for (int domain : {6, 5}) {
    std::vector<std::int32_t> text;
    for (const auto& doc : domain_documents(domain)) text.insert(text.end(), doc.begin(), doc.end());
    for (std::size_t i = 0; (i + 1) * kT + 1 <= text.size(); ++i)
      expected.emplace_back(text.begin() + static_cast<std::ptrdiff_t>(i * kT),
                            text.begin() + static_cast<std::ptrdiff_t>(i * kT + kT + 1));
  }
  CHECK(reader.num_samples() == expected.size());

  for (int pass = 0; pass < 2; ++pass) {
    std::vector<std::vector<std::int32_t>> rows;
    std::vector<std::int64_t> sizes;
    while (auto batch = reader.next()) {
      sizes.push_back(batch->rows);
      for (std::int64_t r = 0; r < batch->rows; ++r) {
        rows.push_back(row_of(*batch, r));
        const auto& spec = kDomains[static_cast<std::size_t>(domain_of(rows.back()[0]))];
        CHECK(batch->domain.at("fine")[static_cast<std::size_t>(r)] == index_in(kFineLabels, spec.fine));
        CHECK(batch->domain.at("coarse")[static_cast<std::size_t>(r)] == index_in(kCoarseLabels, "math"));
      }
    }
    CHECK(rows == expected);
    for (std::size_t k = 0; k + 1 < sizes.size(); ++k) CHECK(sizes[k] == 5);
    CHECK(sizes.back() == static_cast<std::int64_t>((expected.size() - 1) % 5 + 1));
    CHECK_FALSE(reader.next().has_value());
    reader.rewind();
  }

  ValReader fine(corpus, "fine", "code.c", 100, kT);
  CHECK(fine.streams().size() == 1);
  auto only = fine.next();
  REQUIRE(only.has_value());
  CHECK(static_cast<std::uint64_t>(only->rows) == fine.num_samples());
  CHECK_FALSE(fine.next().has_value());
}

TEST_CASE("bad loader settings, weights and domains are errors naming the key or domain") {
  auto corpus = make_corpus();
  auto with_weights = [&](const char* json) {
    auto c = config(2, 8);
    c.weights = nlohmann::json::parse(json);
    return error_of([&] { TrainLoader{corpus, c}; });
  };
  CHECK(contains(with_weights(R"({"topic": {"a": 1}})"), "weights.topic: unknown label system (known: coarse, fine)"));
  CHECK(contains(with_weights(R"({"coarse": {"prse": 1, "code": 1, "math": 1}})"),
                 "weights.coarse.prse: unknown label (labels: code, math, prose)"));
  CHECK(contains(with_weights(R"({"coarse": {"code": 1, "math": 1}})"), "no weight for label 'prose'"));
  CHECK(contains(with_weights(R"({"coarse": {"prose": -1, "code": 1, "math": 1}})"),
                 "weights.coarse.prose: expected a non-negative number"));
  CHECK(contains(with_weights(R"({"coarse": {"prose": "1", "code": 1, "math": 1}})"), "weights.coarse.prose"));
  CHECK(contains(with_weights(R"({"coarse": {"prose": 0, "code": 0, "math": 0}})"),
                 "weights.coarse: all weights are zero"));
  CHECK(contains(with_weights(R"({"coarse": {"prose": 1}, "fine": {"code.c": 1}})"), "exactly one label system"));
  CHECK(contains(with_weights(R"([1, 2])"), "weights: expected null or"));
  CHECK(contains(with_weights(R"({"fine": {"math.cas": 1, "prose.literature": 1, "prose.techdoc": 1, "code.c": 1,
                                           "code.python": 1, "math.formal.coq": 1}})"),
                 "weights.fine.math.cas: label has no train shards"));

  CHECK(contains(error_of([&] { TrainLoader{corpus, config(0, 8)}; }), "loader: batch_size: must be at least 1"));
  CHECK(contains(error_of([&] { TrainLoader{corpus, config(2, 0)}; }), "loader: seq_len: must be at least 1"));
  CHECK(contains(error_of([&] {
                   TrainLoader{corpus, config(2, 8, 1, 4, 4)};
                 }),
                 "loader: rank: 4 is outside [0, world = 4)"));
  CHECK(contains(error_of([&] { TrainLoader{corpus, config(2, 8, 1, -1, 4)}; }), "loader: rank"));
  // T = the smallest train domain's token count leaves that domain alone without a sample of T + 1 tokens.
  std::map<int, std::int64_t> train_tokens;
  for (int d = 0; d < static_cast<int>(kDomains.size()); ++d)
    if (kDomains[static_cast<std::size_t>(d)].split == "train")
      for (const auto& doc : domain_documents(d)) train_tokens[d] += static_cast<std::int64_t>(doc.size());
  const auto smallest = std::min_element(train_tokens.begin(), train_tokens.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
  const auto& small = kDomains[static_cast<std::size_t>(smallest->first)];
  CHECK(contains(error_of([&] {
                   TrainLoader{corpus, config(2, smallest->second)};
                 }),
                 "train stream 'coarse=" + small.coarse + ",fine=" + small.fine + "': has " +
                     std::to_string(smallest->second) + " tokens, too few"));

  std::vector<LabelledSource> val_only;
  for (auto& shard : domain_shards(5, 0)) val_only.push_back(std::move(shard));
  LabelledCorpus no_train(std::move(val_only));
  CHECK(contains(error_of([&] { TrainLoader{no_train, config(2, 8)}; }), "the corpus has no 'train' shards"));

  CHECK(contains(error_of([&] {
                   ValReader{corpus, "fine", "prose.literature", 2, 8};
                 }),
                 "no 'val' shards are labelled fine=prose.literature"));
  CHECK(contains(error_of([&] { ValReader{corpus, "fine", "math.nope", 2, 8}; }), "unknown label 'math.nope'"));
  CHECK(contains(error_of([&] { ValReader{corpus, "topic", "math", 2, 8}; }), "label system 'topic': unknown"));
  CHECK(contains(error_of([&] {
                   ValReader{corpus, "coarse", "math", 2, 100000};
                 }),
                 "val stream 'coarse=math,fine=math.cas'"));
  CHECK(contains(error_of([&] { ValReader{corpus, "coarse", "math", 0, 8}; }), "val reader: batch_size"));

  auto unlabelled = domain_shards(0, 0);
  unlabelled[0].labels.erase("fine");
  CHECK(contains(error_of([&] { LabelledCorpus{unlabelled}; }), "has no label in label system 'fine'"));
  auto bad_split = domain_shards(0, 0);
  bad_split[0].split = "test";
  CHECK(contains(error_of([&] { LabelledCorpus{bad_split}; }), "split 'test' is neither 'train' nor 'val'"));
}

TEST_CASE("over indexed datasets on disk the loader reads what it reads from memory, split and resumed alike") {
  ScratchDir dir("loader");
  auto memory = make_corpus();
  auto disk = written_to_disk(memory, dir.path());
  TrainLoader from_memory(memory, config(6, 16, 3));
  TrainLoader from_disk(disk, config(6, 16, 3));
  std::vector<TrainLoader> ranks;
  for (int r = 0; r < 3; ++r) ranks.emplace_back(disk, config(2, 16, 3, r, 3));
  for (int step = 0; step < 30; ++step) {
    Batch expected = from_memory.next_batch();
    REQUIRE(same_batches(from_disk.next_batch(), expected));
    for (int r = 0; r < 3; ++r) {
      Batch mine = ranks[static_cast<std::size_t>(r)].next_batch();
      for (std::int64_t i = 0; i < 2; ++i) REQUIRE(row_of(mine, i) == row_of(expected, r * 2 + i));
    }
  }

  TrainLoader resumed(disk, config(6, 16, 3));
  resumed.restore(from_memory.state());
  for (int step = 0; step < 20; ++step) REQUIRE(same_batches(resumed.next_batch(), from_memory.next_batch()));

  ValReader val_memory(memory, "coarse", "math", 4, 16);
  ValReader val_disk(disk, "coarse", "math", 4, 16);
  while (auto expected = val_memory.next()) REQUIRE(same_batches(*val_disk.next(), *expected));
  CHECK_FALSE(val_disk.next().has_value());
}

TEST_CASE("a loader built from a corpus manifest reads the manifest's shards with the manifest's label ids") {
  ScratchDir dir("loader-manifest");
  auto memory = make_corpus();
  auto disk = written_to_disk(memory, dir.path());
  Manifest manifest = manifest_for(memory, dir.path());
  auto opened = open_corpus(manifest);
  for (const auto& system : manifest.label_systems) CHECK(opened.labels_of(system) == manifest.labels_of(system));

  TrainLoader from_memory(memory, config(4, 32, 11));
  TrainLoader from_manifest(manifest, config(4, 32, 11));
  for (int step = 0; step < 25; ++step) REQUIRE(same_batches(from_manifest.next_batch(), from_memory.next_batch()));
  ValReader val_memory(memory, "fine", "math.formal.coq", 3, 8);
  ValReader val_manifest(opened, "fine", "math.formal.coq", 3, 8);
  while (auto expected = val_memory.next()) REQUIRE(same_batches(*val_manifest.next(), *expected));

  Manifest wrong_tokens = manifest;
  wrong_tokens.shards[2].tokens += 1;
  const auto e = error_of([&] { open_corpus(wrong_tokens); });
  CHECK(contains(e, "manifest.json: shards[2] (" + manifest.shards[2].prefix + "): "));
  CHECK(contains(e, "tokens on disk, the manifest says " + std::to_string(manifest.shards[2].tokens + 1)));
  Manifest missing = manifest;
  missing.shards[0].prefix = "no-such-shard";
  CHECK(contains(error_of([&] { TrainLoader{missing, config(4, 32)}; }), "no-such-shard"));
}

TEST_CASE("a token id outside the manifest's vocabulary is refused where it is read, naming the shard and document") {
  ScratchDir dir("loader-vocab");
  auto memory = make_corpus();
  auto disk = written_to_disk(memory, dir.path());
  Manifest manifest = manifest_for(memory, dir.path());
  // Domains 0-4 (every train stream) stay below 5 * 8192; the val domains 5-7 do not.
  manifest.tokenizer.vocab_size = 5 * 8192;
  TrainLoader train(manifest, config(4, 32, 11));
  for (int step = 0; step < 25; ++step) train.next_batch();

  const auto math_cas = std::find_if(manifest.shards.begin(), manifest.shards.end(),
                                     [](const ShardEntry& s) { return s.labels.at("fine") == "math.cas"; });
  REQUIRE(math_cas != manifest.shards.end());
  ValReader val(open_corpus(manifest), "fine", "math.cas", 3, 8);
  CHECK(error_of([&] { val.next(); }) == (dir / math_cas->prefix).string() +
                                            ".bin: document 0, token 0: id " + std::to_string(token_of(6, 0, 0)) +
                                            " is outside the vocabulary [0, 40960) (a damaged shard, or one "
                                            "prepared with another tokenizer)");

  manifest.tokenizer.vocab_size = 8192;
  TrainLoader narrow(manifest, config(4, 32, 11));
  const std::string e = error_of([&] {
    for (int step = 0; step < 25; ++step) narrow.next_batch();
  });
  CHECK(contains(e, dir.path().string()));
  CHECK(contains(e, ".bin: document "));
  CHECK(contains(e, "is outside the vocabulary [0, 8192)"));
}
