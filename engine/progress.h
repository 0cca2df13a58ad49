// Progress reporting for long work: a throttled one-line status (done/total, rates, ETA) on stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace diverge {

// Formats seconds as "1h02m", "3m05s" or "12s".
std::string format_duration(double seconds);

// Formats a byte count as "1.2 MB" (powers of 1000, like the rates it sits beside).
std::string format_bytes(double bytes);

// Prints "<label> <done>/<total> <unit> | <rate> | <MB/s> | ETA <t>" at most every `interval` seconds, redrawing one
// line on a terminal and printing whole lines otherwise (logs stay readable). total = 0 means unknown.
class Progress {
 public:
  Progress(std::string label, std::uint64_t total, std::string unit, double interval_s = 0.5);
  // Adds `units` finished units and `bytes` processed bytes; prints if the interval has passed.
  void advance(std::uint64_t units, std::uint64_t bytes = 0);
  // For work whose unit count is unknown up front (documents in a compressed file): the fraction done, from which
  // the ETA is estimated instead.
  void set_fraction(double fraction) { fraction_ = fraction; }
  // Prints the final line with totals and overall rates.
  void finish();

 private:
  void print(bool final_line);
  std::string label_;
  std::uint64_t total_;
  std::string unit_;
  double interval_s_;
  std::uint64_t done_ = 0;
  std::uint64_t bytes_ = 0;
  double fraction_ = -1.0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_print_;
};

}  // namespace diverge
