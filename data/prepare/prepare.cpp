// `diverge prepare`: JSONL -> tokenized Megatron shards (one series per label tuple and split) + manifest.json.
#include "data/prepare/prepare.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <span>
#include <thread>

#include "data/prepare/line_reader.h"
#include "data/shard/indexed_dataset.h"
#include "data/shard/manifest.h"
#include "data/tokenizer/tokenizer.h"
#include "engine/error.h"
#include "engine/json/json_reader.h"
#include "engine/progress.h"

namespace diverge::data {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBatchTextBytes = 8 << 20;  // text per tokenization batch: big enough to split over threads

struct Document {
  std::string text;
  std::vector<std::string> labels;  // one per label system, in PrepareOptions order
  std::string split;
};

bool is_jsonl(const fs::path& p) {
  std::string name = p.filename().string();
  return name.ends_with(".jsonl") || name.ends_with(".jsonl.xz");
}

std::vector<fs::path> collect_input_files(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const auto& input : inputs) {
    if (fs::is_directory(input)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(input))
        if (entry.is_regular_file() && is_jsonl(entry.path())) found.push_back(entry.path());
      check(!found.empty(), input.string(), "directory holds no .jsonl or .jsonl.xz files");
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      check(fs::is_regular_file(input), input.string(), "no such input file or directory");
      files.push_back(input);
    }
  }
  check(!files.empty(), "prepare", "no input files given");
  return files;
}

// "train-000.jsonl.xz" -> "train"; "" when the name does not say.
std::string split_from_filename(const fs::path& p) {
  std::string name = p.filename().string();
  for (const char* split : {"train", "val"})
    if (name.rfind(split, 0) == 0) return split;
  return "";
}

// Labels become directory names of shard prefixes, so they must be safe path components.
void check_label(const std::string& label, const std::string& where) {
  bool ok = !label.empty() && label != "." && label != ".." &&
            std::all_of(label.begin(), label.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
            });
  check(ok, where, "label '" + label + "' must be non-empty and use only letters, digits, '.', '_' or '-'");
}

Document parse_document(const std::string& line, const std::string& where, const std::vector<std::string>& systems,
                        const std::string& file_split) {
  const nlohmann::json j = parse_json(line, where);
  check(j.is_object(), where, "expected a JSON object per line");
  auto text = j.find("text");
  check(text != j.end() && text->is_string(), where, "missing string field 'text'");
  Document doc;
  doc.text = text->get<std::string>();
  for (const auto& system : systems) {
    auto label = j.find(system);
    check(label != j.end() && label->is_string(), where, "missing string label '" + system + "'");
    doc.labels.push_back(label->get<std::string>());
    check_label(doc.labels.back(), where + ": " + system);
  }
  auto split = j.find("split");
  doc.split = split != j.end() && split->is_string() ? split->get<std::string>() : file_split;
  check(!doc.split.empty(), where,
        "no split: give a \"split\" field or name the file train*.jsonl / val*.jsonl");
  check(doc.split == "train" || doc.split == "val", where, "split must be 'train' or 'val', not '" + doc.split + "'");
  return doc;
}

// Tokenizes docs[begin, end) into out[begin, end), each followed by the EOD token.
void tokenize_range(const Tokenizer& tok, const std::vector<Document>& docs, std::vector<std::vector<std::int32_t>>& out,
                    std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) {
    out[i].clear();
    tok.encode_append(docs[i].text, out[i]);
    out[i].push_back(tok.eod_id());
  }
}

// Splits the batch into contiguous slices of about equal text size, one per thread.
std::vector<std::vector<std::int32_t>> tokenize_batch(const Tokenizer& tok, const std::vector<Document>& docs,
                                                      unsigned threads) {
  std::vector<std::vector<std::int32_t>> out(docs.size());
  std::size_t total = 0;
  for (const auto& d : docs) total += d.text.size();
  std::vector<std::size_t> cuts{0};
  std::size_t acc = 0;
  for (std::size_t i = 0; i < docs.size() && cuts.size() < threads; ++i) {
    acc += docs[i].text.size();
    if (acc * threads >= total * cuts.size()) cuts.push_back(i + 1);
  }
  cuts.push_back(docs.size());
  std::vector<std::future<void>> jobs;
  for (std::size_t t = 0; t + 1 < cuts.size(); ++t)
    if (cuts[t] < cuts[t + 1])
      jobs.push_back(std::async(std::launch::async, tokenize_range, std::cref(tok), std::cref(docs), std::ref(out),
                                cuts[t], cuts[t + 1]));
  for (auto& job : jobs) job.get();
  return out;
}

// The open shard of one (labels, split) stream, rolling over to a new shard past shard_tokens.
class StreamShards {
 public:
  StreamShards(fs::path corpus_dir, std::string dir, std::string split, std::vector<std::string> labels,
               TokenDtype dtype, std::uint64_t shard_tokens)
      : corpus_dir_(std::move(corpus_dir)), dir_(std::move(dir)), split_(std::move(split)),
        labels_(std::move(labels)), dtype_(dtype), shard_tokens_(shard_tokens) {}

  void add(std::span<const std::int32_t> tokens) {
    if (writer_ && writer_->tokens() > 0 && writer_->tokens() + tokens.size() > shard_tokens_) close_shard();
    if (!writer_) open_shard();
    writer_->add_document(tokens);
  }

  // Finishes the open shard; returns the prefixes of every shard written, in order.
  std::vector<std::string> finish() {
    close_shard();
    return prefixes_;
  }

  const std::vector<std::string>& labels() const { return labels_; }
  const std::string& split() const { return split_; }

 private:
  void open_shard() {
    char name[32];
    std::snprintf(name, sizeof name, "%s-%03zu", split_.c_str(), prefixes_.size());
    prefixes_.push_back(dir_ + "/" + name);
    fs::create_directories(corpus_dir_ / dir_);
    writer_ = std::make_unique<IndexedDatasetWriter>(corpus_dir_ / prefixes_.back(), dtype_);
  }
  void close_shard() {
    if (writer_) writer_->finish();
    writer_.reset();
  }

  fs::path corpus_dir_;
  std::string dir_, split_;
  std::vector<std::string> labels_;
  TokenDtype dtype_;
  std::uint64_t shard_tokens_;
  std::unique_ptr<IndexedDatasetWriter> writer_;
  std::vector<std::string> prefixes_;
};

void prepare_output_dir(const PrepareOptions& o) {
  fs::path manifest = o.output / "manifest.json";
  if (fs::exists(manifest)) {
    check(o.force, o.output.string(), "already holds a corpus (manifest.json); pass --force to replace it");
    fs::remove_all(o.output);
  } else if (fs::exists(o.output)) {
    check(fs::is_directory(o.output), o.output.string(), "exists and is not a directory");
    check(fs::is_empty(o.output), o.output.string(), "is not empty and holds no corpus; choose an empty directory");
  }
  fs::create_directories(o.output);
}

std::uint64_t total_file_bytes(const std::vector<fs::path>& files) {
  std::uint64_t total = 0;
  for (const auto& f : files) total += fs::file_size(f);
  return total;
}

}  // namespace

PrepareStats prepare_corpus(const PrepareOptions& o) {
  check(!o.label_systems.empty(), "prepare --labels", "at least one label system is needed");
  check(o.shard_tokens > 0, "prepare --shard-tokens", "must be positive");
  auto files = collect_input_files(o.inputs);
  Tokenizer tok = Tokenizer::load(o.tokenizer);
  prepare_output_dir(o);
  auto start = std::chrono::steady_clock::now();
  unsigned threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  TokenDtype dtype = dtype_for_vocab(tok.vocab_size());

  std::map<std::string, StreamShards> streams;  // ordered: the manifest lists shards in a stable order
  PrepareStats stats;
  Progress progress("prepare", 0, "docs");
  const std::uint64_t input_bytes = std::max<std::uint64_t>(1, total_file_bytes(files));
  std::uint64_t bytes_before_file = 0;

  // Writes a tokenized batch in input order, so the shards do not depend on threads or timing.
  auto write_batch = [&](const std::vector<Document>& docs, const std::vector<std::vector<std::int32_t>>& tokens) {
    std::uint64_t text_bytes = 0;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      std::string dir;
      for (const auto& label : docs[i].labels) dir += (dir.empty() ? "" : "/") + label;
      std::string key = dir + "/" + docs[i].split;
      auto it = streams.find(key);
      if (it == streams.end())
        it = streams.try_emplace(key, o.output, dir, docs[i].split, docs[i].labels, dtype, o.shard_tokens).first;
      it->second.add(tokens[i]);
      auto& s = stats.streams[key];
      s.documents += 1;
      s.tokens += tokens[i].size();
      s.text_bytes += docs[i].text.size();
      stats.tokens += tokens[i].size();
      text_bytes += docs[i].text.size();
    }
    stats.documents += docs.size();
    stats.text_bytes += text_bytes;
    progress.advance(docs.size(), text_bytes);
  };

  // Two batches in flight: while the workers tokenize one, this thread reads and parses the next (JSON parsing is
  // a quarter of the work and would otherwise leave the workers idle).
  std::vector<Document> in_flight;
  std::future<std::vector<std::vector<std::int32_t>>> in_flight_tokens;
  auto hand_over = [&](std::vector<Document>& next) {
    if (in_flight_tokens.valid()) write_batch(in_flight, in_flight_tokens.get());
    in_flight = std::move(next);
    next.clear();
    in_flight_tokens = std::async(std::launch::async, [&tok, &docs = in_flight, threads] {
      return tokenize_batch(tok, docs, threads);
    });
  };

  std::vector<Document> batch;
  std::size_t batch_bytes = 0;
  std::string line;
  for (const auto& file : files) {
    LineReader reader(file);
    std::string file_split = split_from_filename(file);
    while (reader.next(line)) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      std::string where = file.string() + ":" + std::to_string(reader.line_number());
      batch.push_back(parse_document(line, where, o.label_systems, file_split));
      batch_bytes += batch.back().text.size();
      if (batch_bytes >= kBatchTextBytes) {
        progress.set_fraction(static_cast<double>(bytes_before_file + reader.file_bytes_read()) /
                              static_cast<double>(input_bytes));
        hand_over(batch);
        batch_bytes = 0;
      }
    }
    bytes_before_file += fs::file_size(file);
  }
  hand_over(batch);
  write_batch(in_flight, in_flight_tokens.get());
  check(stats.documents > 0, "prepare", "the inputs hold no documents");

  Manifest manifest;
  manifest.dir = o.output;
  manifest.tokenizer = {tok.name(), tok.content_hash(), tok.vocab_size(), tok.eod_id()};
  manifest.label_systems = o.label_systems;
  for (auto& [key, stream] : streams) {
    for (const auto& prefix : stream.finish()) {
      ShardEntry entry = describe_shard(o.output, prefix);
      for (std::size_t i = 0; i < o.label_systems.size(); ++i) entry.labels[o.label_systems[i]] = stream.labels()[i];
      entry.split = stream.split();
      manifest.shards.push_back(std::move(entry));
    }
  }
  manifest.save(o.output / "manifest.json");
  progress.finish();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace diverge::data
