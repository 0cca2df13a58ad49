// Piece counting for BPE training: inputs cut into chunks at safe line boundaries, counted by worker threads.
#include "data/tokenizer/piece_counter.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>

#include "data/tokenizer/piece_hash.h"
#include "engine/error.h"
#include "data/prepare/input_file.h"
#include "engine/files.h"
#include "engine/json/json_reader.h"
#include "engine/progress.h"

namespace diverge::data {

namespace {

namespace fs = std::filesystem;

enum class Format { jsonl, text };

// Distinct pieces and their counts in an open-addressing table: one probe per piece in the common case, where a
// node-based map costs a chain of cache misses (counting is bound by this lookup).
class PieceTable {
 public:
  void add(std::string_view piece, std::uint64_t count) {
    const std::uint64_t hash = piece_hash(piece);
    for (std::uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.index == kEmpty) {
        slot = {hash, static_cast<std::uint32_t>(pieces_.size())};
        pieces_.push_back({std::string(piece), count});
        if (2 * pieces_.size() > slots_.size()) grow();
        return;
      }
      if (slot.hash == hash && pieces_[slot.index].bytes == piece) {
        pieces_[slot.index].count += count;
        return;
      }
    }
  }

  void add_all(PieceTable&& other) {
    for (auto& p : other.pieces_) add(p.bytes, p.count);
    other = PieceTable();
  }

  std::vector<PieceCount> take() {
    std::vector<PieceCount> out = std::move(pieces_);
    *this = PieceTable();
    return out;
  }

 private:
  static constexpr std::uint32_t kEmpty = 0xffffffffu;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t index = kEmpty;  // into pieces_
  };

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.index == kEmpty) continue;
      std::uint64_t i = slot.hash & mask_;
      while (slots_[i].index != kEmpty) i = (i + 1) & mask_;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_ = std::vector<Slot>(1024);  // (power of two, at most half full)
  std::uint64_t mask_ = 1023;
  std::vector<PieceCount> pieces_;
};

struct Chunk {
  std::size_t input;         // index into the inputs
  std::size_t begin;         // byte range in that input
  std::size_t end;
  std::uint64_t first_line;  // 1-based line number of byte `begin`
};

// Reads the format from the name, under an optional .xz (decompressed whole by InputText).
Format input_format(const fs::path& path) {
  const std::string ext = (is_xz(path) ? path.stem() : path).extension().string();
  if (ext == ".jsonl") return Format::jsonl;
  if (ext == ".txt") return Format::text;
  throw Error(path.string(), "unknown input type '" + path.filename().string() +
                                 "': expected .jsonl (a \"text\" field per line) or .txt, optionally .xz");
}

bool is_ascii_graphic(char c) { return c > ' ' && c < '\x7f'; }

// A chunk of plain text may end after byte i (a '\n') only between two printable ASCII characters: no built-in
// pattern lets a piece run across "X\nY", nor decides the piece before it by looking past the newline.
bool is_text_boundary(std::string_view text, std::size_t i) {
  return text[i] == '\n' && i > 0 && i + 1 < text.size() && is_ascii_graphic(text[i - 1]) &&
         is_ascii_graphic(text[i + 1]);
}

// The end of the chunk that starts at `begin`: just past the first allowed newline at or after begin + chunk_bytes,
// or the end of the input.
std::size_t chunk_end(std::string_view data, std::size_t begin, std::size_t chunk_bytes, Format format) {
  std::size_t at = begin + chunk_bytes;
  while (at < data.size()) {
    std::size_t newline = data.find('\n', at);
    if (newline == std::string_view::npos) break;
    if (format == Format::jsonl || is_text_boundary(data, newline)) return newline + 1;
    at = newline + 1;
  }
  return data.size();
}

std::vector<Chunk> plan_chunks(const std::vector<InputText>& files, const std::vector<Format>& formats,
                               std::size_t chunk_bytes) {
  std::vector<Chunk> chunks;
  for (std::size_t input = 0; input < files.size(); ++input) {
    std::string_view data = files[input].view();
    std::uint64_t line = 1;
    for (std::size_t begin = 0; begin < data.size();) {
      std::size_t end = chunk_end(data, begin, chunk_bytes, formats[input]);
      chunks.push_back({input, begin, end, line});
      line += static_cast<std::uint64_t>(std::count(data.begin() + static_cast<std::ptrdiff_t>(begin),
                                                    data.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
      begin = end;
    }
  }
  return chunks;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// One worker's tallies; merged once all chunks are done.
struct Tally {
  PieceTable counts;
  std::uint64_t documents = 0;
  std::uint64_t total_pieces = 0;
};

class ChunkCounter {
 public:
  ChunkCounter(const Regex& pattern, Tally& tally) : pattern_(pattern), tally_(tally) {}

  void count_text(std::string_view text) {
    split_isolated(pattern_, text, scratch_, [&](std::string_view piece) {
      ++tally_.total_pieces;
      tally_.counts.add(piece, 1);
    });
  }

  void count_jsonl(std::string_view data, const fs::path& path, std::uint64_t first_line) {
    std::uint64_t line_number = first_line;
    for (std::size_t begin = 0; begin < data.size(); ++line_number) {
      std::size_t end = std::min(data.find('\n', begin), data.size());
      std::string_view line = data.substr(begin, end - begin);
      begin = end + 1;
      if (is_blank(line)) continue;
      count_text(document_text(line, path, line_number));
      ++tally_.documents;
    }
  }

 private:
  std::string document_text(std::string_view line, const fs::path& path, std::uint64_t line_number) {
    const std::string where = path.string() + ":" + std::to_string(line_number);
    const nlohmann::json doc = parse_json(line, where);
    auto text = doc.is_object() ? doc.find("text") : doc.end();
    if (!doc.is_object() || text == doc.end() || !text->is_string()) {
      throw Error(where, "expected a JSON object with a string field \"text\"");
    }
    return text->get<std::string>();
  }

  const Regex& pattern_;
  Tally& tally_;
  RegexScratch scratch_;
};

// Runs the chunks on `threads` workers. A failure stops the hand-out of further chunks; the error of the earliest
// failing chunk is rethrown, so the message does not depend on timing.
class CountingRun {
 public:
  CountingRun(const std::vector<fs::path>& inputs, const std::vector<InputText>& files,
              const std::vector<Format>& formats, const std::vector<Chunk>& chunks, const Regex& pattern)
      : inputs_(inputs), files_(files), formats_(formats), chunks_(chunks), pattern_(pattern) {}

  std::vector<Tally> run(unsigned threads, Progress* progress) {
    std::vector<Tally> tallies(threads);
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) workers.emplace_back([this, &tallies, t] { work(tallies[t]); });
    report_until_done(threads, progress);
    for (auto& w : workers) w.join();
    if (first_error_) std::rethrow_exception(first_error_);
    return tallies;
  }

 private:
  void work(Tally& tally) {
    ChunkCounter counter(pattern_, tally);
    while (!stop_.load()) {
      std::size_t index = next_.fetch_add(1);
      if (index >= chunks_.size()) break;
      try {
        count_chunk(chunks_[index], counter, tally);
      } catch (...) {
        record_error(index, std::current_exception());
      }
    }
    finished_.fetch_add(1);
  }

  void count_chunk(const Chunk& chunk, ChunkCounter& counter, Tally& tally) {
    std::string_view data = files_[chunk.input].view().substr(chunk.begin, chunk.end - chunk.begin);
    if (formats_[chunk.input] == Format::jsonl) {
      counter.count_jsonl(data, inputs_[chunk.input], chunk.first_line);
    } else {
      counter.count_text(data);
      if (chunk.begin == 0) ++tally.documents;
    }
    bytes_done_.fetch_add(data.size());
    chunks_done_.fetch_add(1);
  }

  void record_error(std::size_t index, std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(error_mutex_);
    if (!first_error_ || index < error_chunk_) {
      first_error_ = error;
      error_chunk_ = index;
    }
    stop_.store(true);
  }

  void report_until_done(unsigned threads, Progress* progress) {
    std::uint64_t reported_chunks = 0;
    std::uint64_t reported_bytes = 0;
    auto report = [&] {
      std::uint64_t chunks = chunks_done_.load();
      std::uint64_t bytes = bytes_done_.load();
      if (progress != nullptr) progress->advance(chunks - reported_chunks, bytes - reported_bytes);
      reported_chunks = chunks;
      reported_bytes = bytes;
    };
    while (finished_.load() < threads) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      report();
    }
    report();
  }

  const std::vector<fs::path>& inputs_;
  const std::vector<InputText>& files_;
  const std::vector<Format>& formats_;
  const std::vector<Chunk>& chunks_;
  const Regex& pattern_;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::atomic<unsigned> finished_{0};
  std::atomic<std::uint64_t> chunks_done_{0};
  std::atomic<std::uint64_t> bytes_done_{0};
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
  std::size_t error_chunk_ = 0;
};

CorpusCounts merge_tallies(std::vector<Tally>& tallies) {
  CorpusCounts result;
  for (std::size_t t = 0; t < tallies.size(); ++t) {
    result.documents += tallies[t].documents;
    result.total_pieces += tallies[t].total_pieces;
    if (t > 0) tallies.front().counts.add_all(std::move(tallies[t].counts));
  }
  result.pieces = tallies.front().counts.take();
  std::sort(result.pieces.begin(), result.pieces.end(),
            [](const PieceCount& a, const PieceCount& b) { return a.bytes < b.bytes; });
  return result;
}

}  // namespace

CorpusCounts count_pieces(const std::vector<fs::path>& inputs, const Regex& pattern, const CountOptions& options) {
  check(options.threads >= 1, "piece counting", "threads must be at least 1");
  check(options.chunk_bytes >= 1, "piece counting", "chunk size must be at least 1 byte");
  std::vector<Format> formats;
  std::vector<InputText> files;
  std::uint64_t total_bytes = 0;
  for (const auto& path : inputs) {
    formats.push_back(input_format(path));
    files.emplace_back(path);
    total_bytes += files.back().size();
  }
  const std::vector<Chunk> chunks = plan_chunks(files, formats, options.chunk_bytes);
  const unsigned workers = static_cast<unsigned>(std::clamp<std::size_t>(chunks.size(), 1, options.threads));

  Progress progress("counting pieces:", chunks.size(), "chunks");
  CountingRun run(inputs, files, formats, chunks, pattern);
  std::vector<Tally> tallies = run.run(workers, options.show_progress ? &progress : nullptr);
  if (options.show_progress) progress.finish();

  CorpusCounts counts = merge_tallies(tallies);
  counts.bytes = total_bytes;
  return counts;
}

}  // namespace diverge::data
