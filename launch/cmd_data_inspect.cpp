// `diverge data inspect`: a corpus's domains per label system (shards, documents, tokens, share, train/val).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "data/shard/corpus_summary.h"
#include "data/shard/manifest.h"
#include "launch/command.h"
#include "launch/data_command.h"

namespace diverge::cli {
namespace {

// 1234567 -> "1,234,567": token counts run to billions and are read by eye.
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * fraction);
  return buf;
}

// id, label (padded to the longest), shards, documents, tokens, share, train tokens, val tokens.
constexpr const char* kRowFormat = "  %4s  %-*s %6s %11s %15s %8s %15s %13s\n";

void print_row(int label_width, const std::string& id, const data::LabelTotals& t, const std::string& label) {
  std::printf(kRowFormat, id.c_str(), label_width, label.c_str(), grouped(t.shards).c_str(),
              grouped(t.documents).c_str(), grouped(t.tokens).c_str(), percent(t.token_share).c_str(),
              grouped(t.train_tokens).c_str(), grouped(t.val_tokens).c_str());
}

void print_table(const data::Manifest& m, const data::CorpusSummary& s) {
  const auto& t = m.tokenizer;
  std::printf("corpus     %s\n", m.file.string().c_str());
  std::printf("tokenizer  %s (vocab %s, eod %d, %s)\n", t.id.c_str(), grouped(t.vocab_size).c_str(), t.eod_id,
              t.hash.c_str());
  std::printf("shards     %s (%s train, %s val), %s documents, %s tokens (%s train, %s val)\n",
              grouped(s.total.shards).c_str(), grouped(s.train_shards).c_str(), grouped(s.val_shards).c_str(),
              grouped(s.total.documents).c_str(), grouped(s.total.tokens).c_str(),
              grouped(s.total.train_tokens).c_str(), grouped(s.total.val_tokens).c_str());
  for (const auto& sys : s.systems) {
    int width = 5;
    for (const auto& l : sys.labels) width = std::max(width, static_cast<int>(l.label.size()));
    std::printf("\nlabel system '%s': %zu labels\n", sys.system.c_str(), sys.labels.size());
    std::printf(kRowFormat, "id", width, "label", "shards", "documents", "tokens", "share", "train tokens",
                "val tokens");
    for (std::size_t id = 0; id < sys.labels.size(); ++id)
      print_row(width, std::to_string(id), sys.labels[id], sys.labels[id].label);
    print_row(width, "", s.total, "total");
  }
}

nlohmann::ordered_json totals_json(const data::LabelTotals& t) {
  return {{"shards", t.shards},           {"documents", t.documents},       {"tokens", t.tokens},
          {"token_share", t.token_share}, {"train_tokens", t.train_tokens}, {"val_tokens", t.val_tokens}};
}

void print_json(const data::Manifest& m, const data::CorpusSummary& s) {
  nlohmann::ordered_json systems = nlohmann::ordered_json::array();
  for (const auto& sys : s.systems) {
    nlohmann::ordered_json labels = nlohmann::ordered_json::array();
    for (std::size_t id = 0; id < sys.labels.size(); ++id) {
      nlohmann::ordered_json row = {{"id", id}, {"label", sys.labels[id].label}};
      row.update(totals_json(sys.labels[id]));
      labels.push_back(std::move(row));
    }
    systems.push_back({{"system", sys.system}, {"labels", std::move(labels)}});
  }
  nlohmann::ordered_json totals = totals_json(s.total);
  totals["train_shards"] = s.train_shards;
  totals["val_shards"] = s.val_shards;
  const nlohmann::ordered_json out = {{"manifest", m.file.string()},
                                      {"tokenizer",
                                       {{"id", m.tokenizer.id},
                                        {"hash", m.tokenizer.hash},
                                        {"vocab_size", m.tokenizer.vocab_size},
                                        {"eod_id", m.tokenizer.eod_id}}},
                                      {"totals", std::move(totals)},
                                      {"label_systems", std::move(systems)}};
  std::printf("%s\n", out.dump(2).c_str());
}

struct InspectOptions {
  std::string corpus;
  bool json = false;
};

Registrar inspect_command(30, [](CLI::App& root) {
  auto options = std::make_shared<InspectOptions>();
  auto* cmd = data_command(root).add_subcommand(
      "inspect",
      "Print what a corpus holds from its manifest: for each label system, every label's shards, documents,\n"
      "tokens, share of all tokens and train/val tokens, plus totals and the tokenizer.\n"
      "Example: diverge data inspect runs/corpus");
  cmd->add_option("corpus", options->corpus, "corpus directory (holding manifest.json) or a manifest file")->required();
  cmd->add_flag("--json", options->json, "print JSON instead of tables");
  cmd->callback([options] {
    const auto manifest = data::Manifest::load(data::find_manifest(options->corpus));
    const auto summary = data::summarize(manifest);
    if (options->json)
      print_json(manifest, summary);
    else
      print_table(manifest, summary);
  });
});

}  // namespace
}  // namespace diverge::cli
