// Fuzz harness: a config file with --set overrides, through Config::load; an accepted config must round-trip.
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_config(std::string_view data) {
  const auto [text, set_lines] = split_at_nul(data);
  std::vector<std::string> overrides;
  for (std::size_t start = 0; start < set_lines.size();) {
    const auto end = std::min(set_lines.find('\n', start), set_lines.size());
    overrides.emplace_back(set_lines.substr(start, end - start));
    start = end + 1;
  }
  const fs::path file = scratch_dir() / "config.json";
  write_bytes(file, text);
  refusals_are_errors([&] {
    const config::Config loaded = config::Config::load(file, overrides);
    require(config::Config::from_json(loaded.to_json(), "resolved") == loaded,
            "a loaded config differs from the config read back from its own JSON");
  });
}

}  // namespace diverge::fuzz
