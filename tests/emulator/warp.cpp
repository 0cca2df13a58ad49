// Warp collectives as the PTX ISA defines them: shuffles, votes, match and __syncwarp over a per-warp round that the
// lanes of the mask fill and the last of them completes.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "tests/emulator/block.h"

namespace diverge::emu {
namespace {

// The lanes the current thread's warp has: a block whose size is not a multiple of 32 ends in a partial warp.
unsigned existing_lanes(Block& block, unsigned warp) {
  const unsigned lanes = std::min(32u, block.thread_count() - warp * 32);
  return lanes == 32 ? ~0u : (1u << lanes) - 1;
}

WarpRound& join_round(Block& block, unsigned mask, const char* name, std::source_location where, int width) {
  const EmuThread& me = block.current();
  const unsigned warp = me.linear / 32, lane = me.linear % 32, bit = 1u << lane;
  // Messages are built only when there is something to report: this runs once per lane and collective.
  auto fault = [&](const std::string& what) { block.fault(std::string(name) + " at " + site(where) + ": " + what); };
  if ((mask & bit) == 0) fault("mask " + hex_mask(mask) + " does not include the calling lane " + std::to_string(lane));
  if ((mask & ~existing_lanes(block, warp)) != 0) fault("mask " + hex_mask(mask) + " names lanes this warp lacks");
  // Lanes may wait at collectives of different masks at once (a full-warp __syncwarp while the active lanes of a
  // branch shuffle among themselves): PTX matches a collective by its mask. Only one mask met at two different
  // collectives is misuse; a true cycle of waits is left to the deadlock report.
  for (const auto& round : block.rounds()) {
    if (round->warp != warp || round->complete || round->mask != mask) continue;
    if (std::strcmp(round->name, name) != 0 || !same_site(round->where, where) || round->width != width)
      fault("with mask " + hex_mask(mask) + ", while lanes " + hex_mask(round->arrived) + " wait at " + round->name +
            " at " + site(round->where) + " with mask " + hex_mask(round->mask) +
            ": the lanes of one mask must meet at the same collective");
    return *round;
  }
  for (unsigned l = 0; l < 32; ++l)
    if ((mask & (1u << l)) != 0 && block.thread(warp * 32 + l).state == ThreadState::exited)
      fault("lane " + std::to_string(l) + " of mask " + hex_mask(mask) + " has exited");
  WarpRound& round = block.new_round();
  round.warp = warp;
  round.mask = mask;
  round.name = name;
  round.where = where;
  round.width = width;
  return round;
}

// Shuffle inputs: value (2 words), lane argument, mode.
std::string combine_shuffle(WarpRound& round) {
  const int width = round.width;
  for (int lane = 0; lane < 32; ++lane) {
    if ((round.mask & (1u << lane)) == 0) continue;
    const auto arg = static_cast<int>(round.in[lane][2]);
    const auto mode = static_cast<Shuffle>(round.in[lane][3]);
    const int first = lane & ~(width - 1), last = first + width - 1;
    int source = lane;
    bool inside = true;
    switch (mode) {
      case Shuffle::idx: source = first + (arg & (width - 1)); break;
      case Shuffle::up: source = lane - arg; inside = source >= first; break;
      case Shuffle::down: source = lane + arg; inside = source <= last; break;
      case Shuffle::bfly: source = lane ^ arg; inside = source <= last; break;
    }
    if (!inside) source = lane;
    if ((round.mask & (1u << source)) == 0)
      return "lane " + std::to_string(lane) + " reads lane " + std::to_string(source) + ", outside the mask " +
             hex_mask(round.mask);
    round.out[lane][0] = round.in[source][0];
    round.out[lane][1] = round.in[source][1];
  }
  return {};
}

std::string combine_ballot(WarpRound& round) {
  unsigned votes = 0;
  for (unsigned lane = 0; lane < 32; ++lane)
    if ((round.mask & (1u << lane)) != 0 && round.in[lane][0] != 0) votes |= 1u << lane;
  for (auto& out : round.out) out[0] = votes;
  return {};
}

std::string combine_match_any(WarpRound& round) {
  for (unsigned lane = 0; lane < 32; ++lane) {
    if ((round.mask & (1u << lane)) == 0) continue;
    unsigned same = 0;
    for (unsigned other = 0; other < 32; ++other)
      if ((round.mask & (1u << other)) != 0 && round.in[other][0] == round.in[lane][0] &&
          round.in[other][1] == round.in[lane][1])
        same |= 1u << other;
    round.out[lane][0] = same;
  }
  return {};
}

std::string combine_nothing(WarpRound&) { return {}; }

}  // namespace

std::string hex_mask(unsigned mask) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", mask);
  return text;
}

LaneWords warp_collective(unsigned mask, const char* name, std::source_location where, int width, const LaneWords& in,
                          std::string (*combine)(WarpRound&)) {
  Block& block = current_block();
  const unsigned linear = block.current().linear, lane = linear % 32, bit = 1u << lane;
  WarpRound& round = join_round(block, mask, name, where, width);
  round.combine = combine;
  round.in[lane] = in;
  round.arrived |= bit;
  if (round.arrived == round.mask) {
    const std::string error = round.combine(round);
    if (!error.empty()) block.fault(std::string(name) + " at " + site(where) + ": " + error);
    round.complete = true;
    round.unread = round.mask;
    for (unsigned l = 0; l < 32; ++l)
      if ((round.mask & (1u << l)) != 0 && l != lane) block.make_runnable(linear - lane + l);
  } else {
    block.wait(name, where, ThreadState::in_warp);
  }
  const LaneWords out = round.out[lane];
  round.unread &= ~bit;
  if (round.unread == 0) block.release_round(round);
  return out;
}

std::uint64_t shuffle(unsigned mask, std::uint64_t bits, Shuffle mode, int lane_arg, int width,
                      std::source_location where) {
  static constexpr const char* kNames[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync"};
  const char* name = kNames[static_cast<int>(mode)];
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    current_block().fault(std::string(name) + " at " + site(where) + ": width " + std::to_string(width) +
                          " is not a power of two from 1 to 32");
  LaneWords in{};
  in[0] = static_cast<std::uint32_t>(bits);
  in[1] = static_cast<std::uint32_t>(bits >> 32);
  in[2] = static_cast<std::uint32_t>(lane_arg);
  in[3] = static_cast<std::uint32_t>(mode);
  const LaneWords out = warp_collective(mask, name, where, width, in, &combine_shuffle);
  return out[0] | (static_cast<std::uint64_t>(out[1]) << 32);
}

unsigned ballot(unsigned mask, bool predicate, const char* name, std::source_location where) {
  LaneWords in{};
  in[0] = predicate ? 1 : 0;
  return warp_collective(mask, name, where, 32, in, &combine_ballot)[0];
}

unsigned match_any(unsigned mask, std::uint64_t bits, std::source_location where) {
  LaneWords in{};
  in[0] = static_cast<std::uint32_t>(bits);
  in[1] = static_cast<std::uint32_t>(bits >> 32);
  return warp_collective(mask, "__match_any_sync", where, 32, in, &combine_match_any)[0];
}

void syncwarp(unsigned mask, std::source_location where) {
  warp_collective(mask, "__syncwarp", where, 32, LaneWords{}, &combine_nothing);
}

unsigned active_mask() {
  Block& block = current_block();
  const unsigned warp = block.current().linear / 32;
  unsigned mask = 0;
  for (unsigned lane = 0; lane < 32; ++lane)
    if ((existing_lanes(block, warp) & (1u << lane)) != 0 &&
        block.thread(warp * 32 + lane).state != ThreadState::exited)
      mask |= 1u << lane;
  return mask;
}

}  // namespace diverge::emu
