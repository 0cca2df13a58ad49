// The rank's place on its host, from every rank's host name gathered over the group.
#include "engine/comm/host_place.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace diverge {

HostPlace host_place(Comm& group) {
  // A host name as i32 words (Linux allows 64 bytes), so that any Comm can gather it; the last word stays 0.
  constexpr std::int64_t kWords = 32;
  std::array<std::int32_t, kWords> mine{};
  gethostname(reinterpret_cast<char*>(mine.data()), (kWords - 1) * sizeof(std::int32_t));
  std::vector<std::int32_t> all(static_cast<std::size_t>(kWords * group.size()));
  group.allgather(make_view(mine.data(), DType::i32, Device::cpu, {kWords}),
                  make_view(all.data(), DType::i32, Device::cpu, {std::ssize(all)}));
  HostPlace place{.rank = 0, .ranks = 0};
  for (int r = 0; r < group.size(); ++r) {
    if (!std::equal(mine.begin(), mine.end(), all.begin() + r * kWords)) continue;
    ++place.ranks;
    if (r < group.rank()) ++place.rank;
  }
  return place;
}

}  // namespace diverge
