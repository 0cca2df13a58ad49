// Progress reporting: throttled status lines with rates and ETA.
#include "engine/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace diverge {

std::string format_duration(double seconds) {
  if (seconds < 0) seconds = 0;
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

Progress::Progress(std::string label, std::uint64_t total, std::string unit, double interval_s)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      interval_s_(interval_s),
      tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

void Progress::advance(std::uint64_t units, std::uint64_t bytes) {
  done_ += units;
  bytes_ += bytes;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  double limit = tty_ ? interval_s_ : interval_s_ * 20;  // logs get a line every ~10 s, terminals a live line
  if (since >= limit) {
    last_print_ = now;
    print(false);
  }
}

void Progress::finish() { print(true); }

void Progress::print(bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  std::string line = label_ + " " + std::to_string(done_);
  if (total_ > 0) line += "/" + std::to_string(total_);
  line += " " + unit_;
  char buf[96];
  std::snprintf(buf, sizeof buf, " | %.1f %s/s", rate, unit_.c_str());
  line += buf;
  if (bytes_ > 0 && elapsed > 0) line += " | " + format_bytes(static_cast<double>(bytes_) / elapsed) + "/s";
  if (final_line) {
    line += " | done in " + format_duration(elapsed);
  } else if (total_ > 0 && rate > 0) {
    line += " | ETA " + format_duration(static_cast<double>(total_ - std::min(done_, total_)) / rate);
  } else if (fraction_ > 0.0) {
    char pct[48];
    std::snprintf(pct, sizeof pct, " | %.0f%%", 100.0 * fraction_);
    line += pct;
    line += " | ETA " + format_duration(elapsed * (1.0 - fraction_) / fraction_);
  }
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace diverge
