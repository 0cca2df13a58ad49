// A group whose every collective is marked for the collective watchdog (collective_watchdog.h).
#pragma once

#include <memory>
#include <string>

#include "engine/comm/comm.h"

namespace diverge {

// The group `inner` under the name `role` ("world", "dp", ...): each collective is forwarded to it, marked for the
// watchdog as the role's, so that a wait past the deadline names the operation and the group. The first form owns
// inner, the second borrows it (it must outlive the result). Sub-groups it splits are watched as "<role>/split".
std::unique_ptr<Comm> make_watched_comm(std::unique_ptr<Comm> inner, const std::string& role);
std::unique_ptr<Comm> make_watched_comm(Comm& inner, const std::string& role);

}  // namespace diverge
