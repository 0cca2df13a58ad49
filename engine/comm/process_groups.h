// ProcessGroups: the world's ranks cut by role (world, dp, ep, edp) once, so the step asks for a role, never a library.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/comm/comm.h"

namespace diverge {

// With W ranks and expert-parallel size E (parallel.ep), rank r belongs to
//   world: all W ranks;
//   dp:    all W ranks too: every rank holds the replicated (non-expert) parameters, whose gradients reduce over it;
//   ep:    the E consecutive ranks [r / E * E, r / E * E + E), which share each MoE layer's experts (1/E each) and
//          exchange tokens with each other;
//   edp:   the W / E ranks with the same r % E, which hold the same experts, whose gradients reduce over it.
// Ranks within each group keep their world order. With E = 1, ep is every rank alone and edp equals dp. Every
// group's collectives are marked for the collective watchdog under the group's role (collective_watchdog.h).
class ProcessGroups {
 public:
  // Collective over world (every rank calls it with the same ep). Error naming parallel.ep when E does not
  // divide W.
  ProcessGroups(Comm& world, std::int64_t ep);
  // The same over a world the groups own (a run on GPUs: routed_comm.h).
  ProcessGroups(std::unique_ptr<Comm> world, std::int64_t ep);

  Comm& world() const { return *world_; }
  Comm& dp() const { return *dp_; }
  Comm& ep() const { return *ep_; }
  Comm& edp() const { return *edp_; }

 private:
  std::unique_ptr<Comm> owned_world_;  // set by the owning constructor
  std::unique_ptr<Comm> world_;        // the world, watched
  std::unique_ptr<Comm> dp_;
  std::unique_ptr<Comm> ep_;
  std::unique_ptr<Comm> edp_;
};

}  // namespace diverge
