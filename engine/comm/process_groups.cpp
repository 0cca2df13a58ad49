// ProcessGroups: dp, ep and edp split from the world by the expert-parallel size.
#include "engine/comm/process_groups.h"

#include <string>

#include "engine/comm/watched_comm.h"
#include "engine/error.h"

namespace diverge {
namespace {

int checked_ep(const Comm& world, std::int64_t ep) {
  check(ep >= 1 && world.size() % ep == 0, "parallel.ep",
        std::to_string(ep) + " does not divide the " + std::to_string(world.size()) +
            " ranks of this run (" + world.describe() + "): run a multiple of parallel.ep ranks");
  return static_cast<int>(ep);
}

}  // namespace

ProcessGroups::ProcessGroups(std::unique_ptr<Comm> world, std::int64_t ep) : ProcessGroups(*world, ep) {
  owned_world_ = std::move(world);
}

ProcessGroups::ProcessGroups(Comm& world, std::int64_t ep) : world_(make_watched_comm(world, "world")) {
  const int e = checked_ep(world, ep);
  const int rank = world.rank();
  dp_ = make_watched_comm(world.split(0, rank), "dp");
  ep_ = make_watched_comm(world.split(rank / e, rank), "ep");
  edp_ = make_watched_comm(world.split(rank % e, rank), "edp");
}

}  // namespace diverge
