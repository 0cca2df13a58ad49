// The step profile: a stack of open parts, and a stamp on the device's clock at each change of the running part.
#include "engine/step_profile.h"

#include <chrono>
#include <vector>

#include "engine/error.h"
#include "kernels/cuda/stamps.h"

namespace diverge {
namespace {

using Clock = std::chrono::steady_clock;

// From this stamp to the next, `part` ran.
struct Stamp {
  StepPart part;
  Clock::time_point host;  // CPU profiles
  std::size_t device = 0;  // CUDA profiles: the index of cuda::stamp()
};

struct Recording {
  bool on = false;
  Device device = Device::cpu;
  std::vector<StepPart> open;  // the scopes open now, innermost last
  std::vector<Stamp> stamps;
};

Recording& recording_state() {
  static Recording instance;
  return instance;
}

StepPart running_part(const Recording& r) { return r.open.empty() ? StepPart::other : r.open.back(); }

void stamp_change(Recording& r) {
  const StepPart part = running_part(r);
  if (!r.stamps.empty() && r.stamps.back().part == part) return;
  Stamp s{part, Clock::now()};
#ifdef DIVERGE_WITH_CUDA
  if (r.device == Device::cuda) s.device = cuda::stamp();
#endif
  r.stamps.push_back(s);
}

double seconds_between(const Recording& r, const Stamp& from, const Stamp& to) {
#ifdef DIVERGE_WITH_CUDA
  if (r.device == Device::cuda) return cuda::seconds_between_stamps(from.device, to.device);
#else
  (void)r;
#endif
  return std::chrono::duration<double>(to.host - from.host).count();
}

}  // namespace

const char* step_part_name(StepPart part) {
  static constexpr const char* kNames[kStepParts] = {"attention", "expert GEMMs",  "dense GEMMs",   "router + dispatch",
                                                     "EDL",       "optimizer",     "communication", "other"};
  return kNames[static_cast<std::size_t>(part)];
}

PartScope::PartScope(StepPart part) : active_(recording_state().on) {
  if (!active_) return;
  Recording& r = recording_state();
  r.open.push_back(part);
  stamp_change(r);
}

PartScope::~PartScope() {
  if (!active_) return;
  Recording& r = recording_state();
  r.open.pop_back();
  stamp_change(r);
}

void StepProfile::start(Device device) {
  Recording& r = recording_state();
  check(!r.on, "step profile", "start() while a profile records");
  r = Recording{};
  r.on = true;
  r.device = device;
#ifdef DIVERGE_WITH_CUDA
  if (device == Device::cuda) cuda::reset_stamps();
#endif
  stamp_change(r);
}

StepPartSeconds StepProfile::stop() {
  Recording& r = recording_state();
  check(r.on && r.open.empty(), "step profile", "stop() without start(), or inside a part");
  r.stamps.push_back(Stamp{StepPart::other, Clock::now()});
#ifdef DIVERGE_WITH_CUDA
  if (r.device == Device::cuda) r.stamps.back().device = cuda::stamp();
#endif
  StepPartSeconds seconds{};
  for (std::size_t i = 0; i + 1 < r.stamps.size(); ++i)
    seconds[static_cast<std::size_t>(r.stamps[i].part)] += seconds_between(r, r.stamps[i], r.stamps[i + 1]);
  r.on = false;
  return seconds;
}

bool StepProfile::recording() { return recording_state().on; }

}  // namespace diverge
