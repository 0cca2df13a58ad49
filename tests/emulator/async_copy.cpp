// The emulated cp.async: copies queued per thread in commit groups, written to shared memory when a wait retires them.
#include <cstdint>
#include <cstring>

#include "tests/emulator/block.h"

namespace diverge::emu {
namespace {

constexpr unsigned kCopyBytes = 16;

bool aligned(const void* address) { return reinterpret_cast<std::uintptr_t>(address) % kCopyBytes == 0; }

void retire(const std::vector<AsyncCopy>& group) {
  for (const AsyncCopy& copy : group) std::memcpy(copy.destination, copy.bytes.data(), kCopyBytes);
}

}  // namespace

void cp_async(void* shared_destination, const void* global_source, unsigned source_bytes, std::source_location where) {
  Block& block = current_block();
  if (!aligned(shared_destination) || !aligned(global_source))
    block.fault("cp.async at " + site(where) + ": a 16-byte copy needs 16-byte aligned addresses");
  if (source_bytes > kCopyBytes)
    block.fault("cp.async at " + site(where) + ": reads at most 16 bytes, asked for " + std::to_string(source_bytes));
  AsyncCopy copy;
  copy.destination = shared_destination;
  copy.where = where;
  std::memcpy(copy.bytes.data(), global_source, source_bytes);  // the rest stays zero, as the src-size form fills it
  block.current().open_copies.push_back(copy);
}

void cp_async_commit() {
  EmuThread& thread = current_block().current();
  thread.copy_groups.push_back(std::move(thread.open_copies));
  thread.open_copies.clear();
}

void cp_async_wait(int pending_groups, std::source_location where) {
  Block& block = current_block();
  if (pending_groups < 0) block.fault("cp.async.wait_group at " + site(where) + ": a negative group count");
  std::vector<std::vector<AsyncCopy>>& groups = block.current().copy_groups;
  const std::size_t keep = static_cast<std::size_t>(pending_groups);
  std::size_t retired = 0;
  while (groups.size() - retired > keep) retire(groups[retired++]);
  groups.erase(groups.begin(), groups.begin() + static_cast<std::ptrdiff_t>(retired));
}

}  // namespace diverge::emu
