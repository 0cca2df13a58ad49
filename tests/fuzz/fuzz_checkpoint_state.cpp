// Fuzz harness: a checkpoint's state.json through the strict reader and state_from_json, then its loader state
// through LoaderState::from_json, as a resume reads them.
#include "data/loader/loader_state.h"
#include "engine/checkpoint/checkpoint_state.h"
#include "engine/json/json_reader.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/support.h"

namespace diverge::fuzz {

void fuzz_checkpoint_state(std::string_view data) {
  refusals_are_errors([&] {
    const StateFile state = state_from_json(parse_json(data, "state.json"), "state.json");
    const auto loader = data::LoaderState::from_json(state.state.loader, "state.json", "loader");
    require(data::fingerprint_mismatch(loader, loader).empty(), "a loader state does not match itself");
  });
}

}  // namespace diverge::fuzz
