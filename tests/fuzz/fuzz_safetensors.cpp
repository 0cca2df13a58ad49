// Fuzz harness: a whole safetensors file through SafetensorsFile, then every tensor's bytes touched.
#include <cstddef>

#include "engine/checkpoint/safetensors_reader.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_safetensors(std::string_view data) {
  const fs::path file = scratch_dir() / "model.safetensors";
  write_bytes(file, data);
  refusals_are_errors([&] {
    const SafetensorsFile tensors(file);
    std::byte folded{0};
    for (const auto& entry : tensors.tensors())
      for (const std::byte b : tensors.data(entry)) folded ^= b;
    (void)folded;
  });
}

}  // namespace diverge::fuzz
