// Fuzz harness: a corpus manifest through Manifest::load, then the label ids and a save of what was loaded.
#include "data/shard/manifest.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_manifest(std::string_view data) {
  const fs::path file = scratch_dir() / "manifest.json";
  write_bytes(file, data);
  refusals_are_errors([&] {
    const data::Manifest manifest = data::Manifest::load(file);
    for (const auto& system : manifest.label_systems) (void)manifest.labels_of(system);
    manifest.save(scratch_dir() / "saved.json");
  });
}

}  // namespace diverge::fuzz
