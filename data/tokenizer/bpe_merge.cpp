// Byte-pair merging: a quadratic scan for short pieces, a lazy min-heap over a linked list for long ones.
#include "data/tokenizer/bpe_merge.h"

#include <algorithm>

namespace diverge::data {

namespace {

// Above this length the heap's log factor beats rescanning all pairs after every merge.
constexpr std::size_t kScanMaxLength = 96;

void load_bytes(std::string_view piece, const ByteIds& byte_ids, std::vector<std::int32_t>& ids) {
  ids.resize(piece.size());
  for (std::size_t i = 0; i < piece.size(); ++i) ids[i] = byte_ids[static_cast<unsigned char>(piece[i])];
}

}  // namespace

void bpe_merge_scan(std::string_view piece, const ByteIds& byte_ids, const PairTable& pairs, BpeScratch& scratch,
                    std::vector<std::int32_t>& out) {
  auto& ids = scratch.ids;
  auto& rules = scratch.rules;
  load_bytes(piece, byte_ids, ids);
  std::size_t count = ids.size();
  rules.resize(count);
  for (std::size_t i = 0; i + 1 < count; ++i) rules[i] = pairs.find(ids[i], ids[i + 1]);
  while (count > 1) {
    std::size_t best = 0;
    for (std::size_t i = 1; i + 1 < count; ++i) {
      if (rules[i].priority < rules[best].priority) best = i;
    }
    if (rules[best].priority == kNoMerge) break;
    ids[best] = rules[best].merged;
    std::copy(ids.begin() + static_cast<std::ptrdiff_t>(best) + 2, ids.begin() + static_cast<std::ptrdiff_t>(count),
              ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    std::copy(rules.begin() + static_cast<std::ptrdiff_t>(best) + 1,
              rules.begin() + static_cast<std::ptrdiff_t>(count) - 1, rules.begin() + static_cast<std::ptrdiff_t>(best));
    --count;
    if (best > 0) rules[best - 1] = pairs.find(ids[best - 1], ids[best]);
    if (best + 1 < count) rules[best] = pairs.find(ids[best], ids[best + 1]);
  }
  out.insert(out.end(), ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(count));
}

void bpe_merge_heap(std::string_view piece, const ByteIds& byte_ids, const PairTable& pairs, BpeScratch& scratch,
                    std::vector<std::int32_t>& out) {
  auto& ids = scratch.ids;  // -1 once a symbol has been merged into its left neighbour
  auto& next = scratch.next;
  auto& prev = scratch.prev;
  auto& heap = scratch.heap;
  load_bytes(piece, byte_ids, ids);
  auto n = static_cast<std::int32_t>(ids.size());
  next.resize(ids.size());
  prev.resize(ids.size());
  heap.clear();
  // std heaps are max-heaps: "later" means larger priority, then further right, so the top is leftmost-lowest.
  auto later = [](const BpeScratch::HeapEntry& a, const BpeScratch::HeapEntry& b) {
    return a.priority != b.priority ? a.priority > b.priority : a.position > b.position;
  };
  auto push_pair = [&](std::int32_t left) {
    std::int32_t right = next[static_cast<std::size_t>(left)];
    if (right < 0) return;
    MergeRule rule = pairs.find(ids[static_cast<std::size_t>(left)], ids[static_cast<std::size_t>(right)]);
    if (rule.priority == kNoMerge) return;
    heap.push_back({rule.priority, left});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (std::int32_t i = 0; i < n; ++i) {
    next[static_cast<std::size_t>(i)] = i + 1 < n ? i + 1 : -1;
    prev[static_cast<std::size_t>(i)] = i - 1;
  }
  for (std::int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    BpeScratch::HeapEntry top = heap.back();
    heap.pop_back();
    auto left = static_cast<std::size_t>(top.position);
    if (ids[left] < 0 || next[left] < 0) continue;
    auto right = static_cast<std::size_t>(next[left]);
    // An entry is stale when its pair changed since it was pushed; a pair with the same priority spells the same
    // bytes, so merging it is what the fresh entry would do.
    MergeRule rule = pairs.find(ids[left], ids[right]);
    if (rule.priority != top.priority) continue;
    ids[left] = rule.merged;
    ids[right] = -1;
    next[left] = next[right];
    if (next[right] >= 0) prev[static_cast<std::size_t>(next[right])] = top.position;
    if (prev[left] >= 0) push_pair(prev[left]);
    push_pair(top.position);
  }
  for (std::int32_t i = 0; i >= 0; i = next[static_cast<std::size_t>(i)]) out.push_back(ids[static_cast<std::size_t>(i)]);
}

void bpe_merge(std::string_view piece, const ByteIds& byte_ids, const PairTable& pairs, BpeScratch& scratch,
               std::vector<std::int32_t>& out) {
  if (piece.size() <= kScanMaxLength) {
    bpe_merge_scan(piece, byte_ids, pairs, scratch, out);
  } else {
    bpe_merge_heap(piece, byte_ids, pairs, scratch, out);
  }
}

}  // namespace diverge::data
