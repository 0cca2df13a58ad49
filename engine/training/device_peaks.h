// The peaks of known GPUs, by name, from NVIDIA's data sheets: what MFU and a kernel's share of bandwidth divide by.
#pragma once

#include <optional>
#include <string>

namespace diverge {

// Dense bf16 tensor-core TFLOP/s (no sparsity); nullopt for a device not in the table.
std::optional<double> peak_bf16_tflops(const std::string& device_name);

// Memory bandwidth in GB/s; nullopt for a device not in the table.
std::optional<double> peak_memory_gbps(const std::string& device_name);

}  // namespace diverge
