// The training metrics: JSON records, the append-only JSONL log with resume truncation, human step lines.
#include "engine/training/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string_view>

#include "engine/error.h"
#include "engine/files.h"
#include "engine/json/json_reader.h"
#include "engine/progress.h"

namespace diverge {

nlohmann::ordered_json StepRecord::to_json() const {
  return {{"type", "train"},
          {"step", step},
          {"tokens", tokens},
          {"loss", loss.total},
          {"lm", loss.lm},
          {"lb", loss.lb},
          {"z", loss.z},
          {"edl", loss.edl},
          {"grad_norm", grad_norm},
          {"lr", lr},
          {"skipped_steps", skipped_steps},
          {"tokens_per_s", tokens_per_s},
          {"elapsed_s", elapsed_s},
          {"routing", routing}};
}

double EvalRecord::mean() const {
  if (val_loss.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& [label, loss] : val_loss) sum += loss;
  return sum / static_cast<double>(val_loss.size());
}

nlohmann::ordered_json EvalRecord::to_json() const {
  nlohmann::ordered_json losses = nlohmann::ordered_json::object();
  for (const auto& [label, loss] : val_loss) losses[label] = loss;
  return {{"type", "eval"},     {"step", step},           {"tokens", tokens}, {"label_system", label_system},
          {"val_loss", losses}, {"val_loss_mean", mean()}};
}

namespace {

// Every complete line of a metrics file as JSON. The last line is torn when the file does not end in a newline
// (every record is written with one): that line is dropped, any other bad line is an error.
std::vector<nlohmann::json> parse_records(const fs::path& path, std::string_view text) {
  std::vector<nlohmann::json> records;
  std::size_t line_number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    ++line_number;
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) break;
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    std::string where = path.string() + ":" + std::to_string(line_number);
    auto record = parse_json(line, where);
    check(record.is_object(), where, "not a JSON object; a metrics log holds one JSON object per line");
    check(record.contains("step") && record["step"].is_number_integer(), where, "no integer \"step\" in the record");
    records.push_back(std::move(record));
  }
  return records;
}

std::string records_text(const std::vector<nlohmann::json>& records) {
  std::string text;
  for (const auto& record : records) text += record.dump() + "\n";
  return text;
}

}  // namespace

std::vector<nlohmann::json> read_metrics(const fs::path& path) { return parse_records(path, read_file(path)); }

fs::path superseded_metrics_path(const fs::path& metrics) {
  fs::path path = metrics;
  path.replace_filename(metrics.stem().string() + ".superseded" + metrics.extension().string());
  return path;
}

namespace {

// Appends records to a file and makes them durable before the log that held them is rewritten without them.
void append_durably(const fs::path& path, const std::vector<nlohmann::json>& records) {
  std::string text = records_text(records);
  if (fs::exists(path)) text = read_file(path) + text;
  write_file_atomic(path, text);
}

}  // namespace

MetricsLog::MetricsLog(fs::path path, std::int64_t resumed_step) : path_(std::move(path)) {
  std::vector<nlohmann::json> kept, superseded;
  if (fs::exists(path_)) {
    for (auto& record : read_metrics(path_))
      (record["step"].get<std::int64_t>() <= resumed_step ? kept : superseded).push_back(std::move(record));
  }
  if (path_.has_parent_path()) fs::create_directories(path_.parent_path());
  if (!superseded.empty()) append_durably(superseded_metrics_path(path_), superseded);
  write_file_atomic(path_, records_text(kept));
  file_ = std::fopen(path_.c_str(), "ab");
  if (file_ == nullptr) throw Error(path_.string(), std::string("cannot open for appending: ") + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::write(const nlohmann::ordered_json& record) {
  std::string line = record.dump() + "\n";
  bool ok = std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0;
  if (!ok) throw Error(path_.string(), std::string("cannot write a metrics record: ") + std::strerror(errno));
}

std::string format_thousands(double value) {
  auto whole = static_cast<long long>(std::llround(std::fabs(value)));
  std::string digits = std::to_string(whole);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 && whole != 0 ? "-" + out : out;
}

std::string format_step_line(const StepRecord& r, std::int64_t total_steps, double eta_s) {
  char head[256];
  std::snprintf(head, sizeof head,
                "step %lld/%lld | loss %.3f (lm %.3f lb %.3f z %.3f edl %.3f) | gnorm %.2f | lr %.1e | ",
                static_cast<long long>(r.step), static_cast<long long>(total_steps), r.loss.total, r.loss.lm, r.loss.lb,
                r.loss.z, r.loss.edl, r.grad_norm, r.lr);
  std::string routing = r.routing_summary.empty() ? "" : r.routing_summary + " | ";
  return head + routing + format_thousands(r.tokens_per_s) + " tok/s | ETA " + format_duration(eta_s);
}

std::string format_eval_line(const EvalRecord& r) {
  char number[32];
  std::snprintf(number, sizeof number, "%.3f", r.mean());
  std::string line = "eval step " + std::to_string(r.step) + " | val loss " + number + " (";
  for (std::size_t i = 0; i < r.val_loss.size(); ++i) {
    std::snprintf(number, sizeof number, "%.3f", r.val_loss[i].second);
    line += (i > 0 ? " " : "") + r.val_loss[i].first + " " + number;
  }
  return line + ")";
}

}  // namespace diverge
