// The table of GPU peaks: the first entry whose name part the device's name contains wins, so specific cards (the
// PCIe and NVL H100s) come before their family.
#include "engine/training/device_peaks.h"

namespace diverge {
namespace {

struct Peaks {
  const char* name_part;
  double bf16_tflops;
  double memory_gbps;
};

constexpr Peaks kPeaks[] = {
    {"H100 PCIe", 756.0, 2000.0}, {"H100 NVL", 835.0, 3900.0}, {"H100", 989.4, 3350.0}, {"H200", 989.4, 4800.0},
    {"H800", 989.4, 3350.0},      {"B200", 2250.0, 8000.0},    {"A100-SXM4-80GB", 312.0, 2039.0},
    {"A100", 312.0, 1555.0},      {"L40S", 362.05, 864.0},     {"L4", 121.0, 300.0},
};

const Peaks* find_peaks(const std::string& name) {
  for (const Peaks& peaks : kPeaks)
    if (name.find(peaks.name_part) != std::string::npos) return &peaks;
  return nullptr;
}

}  // namespace

std::optional<double> peak_bf16_tflops(const std::string& device_name) {
  const Peaks* peaks = find_peaks(device_name);
  return peaks ? std::optional<double>(peaks->bf16_tflops) : std::nullopt;
}

std::optional<double> peak_memory_gbps(const std::string& device_name) {
  const Peaks* peaks = find_peaks(device_name);
  return peaks ? std::optional<double>(peaks->memory_gbps) : std::nullopt;
}

}  // namespace diverge
