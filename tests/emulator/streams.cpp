// Streams and events over host threads: each stream a queue run in order, deferred or at once, so that code which
// forgets to order two streams computes the wrong thing here, as it may on a GPU.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/emulator/cuda_emulator.h"

namespace {

using diverge::emu::Deferral;

// A stream's queue. Operations run in order, each once; `completed` counts them, so a point in the stream is the
// count reached when everything queued before it has run.
struct Stream {
  bool deferred = false;
  std::deque<std::function<void()>> queue;
  std::uint64_t queued = 0;
  std::uint64_t completed = 0;
  bool running = false;
};

using Timestamp = std::chrono::steady_clock::time_point;

// The stream a point was recorded on and the count it marks; the host time it completed, for elapsed times, shared
// with the queued record so that an event destroyed before its point is reached (which CUDA allows) is not written.
struct Event {
  Stream* stream = nullptr;
  std::uint64_t point = 0;
  std::shared_ptr<Timestamp> at = std::make_shared<Timestamp>(std::chrono::steady_clock::now());
};

Deferral initial_deferral() {
  const char* value = std::getenv("DIVERGE_EMU_DEFER");
  const std::string_view name = value == nullptr ? "others" : value;
  if (name == "none") return Deferral::none;
  if (name == "first") return Deferral::first;
  if (name == "others") return Deferral::others;
  throw std::runtime_error("CUDA emulator: DIVERGE_EMU_DEFER must be none, first or others, got '" +
                           std::string(name) + "'");
}

// Every live stream in creation order, and the policy new streams take. Streams are driven from one host thread
// at a time (the process's training loop), as the engine drives its GPU. Never destroyed: cudaFree may run from
// static destructors.
struct Streams {
  std::mutex mutex;
  std::vector<Stream*> live;
  std::vector<Stream*> retired;  // destroyed
  std::uint64_t created = 0;
  Deferral deferral = initial_deferral();
  Stream legacy;  // the default stream (0): runs at once
  std::string pending_fault;  // a fault of work cudaFree ran, for the next synchronisation to report
};

Streams& streams() {
  static auto* instance = new Streams;
  return *instance;
}

Stream& stream_of(cudaStream_t stream) {
  return stream == nullptr ? streams().legacy : *reinterpret_cast<Stream*>(stream);
}

// Runs stream's operations until `point` of them have completed. An operation of the stream that waits for the
// stream itself (a host function calling into CUDA, which CUDA forbids) is an error.
void run_until(Stream& stream, std::uint64_t point) {
  while (stream.completed < point) {
    if (stream.running)
      throw std::runtime_error("CUDA emulator: an operation of a stream waits for that stream");
    std::function<void()> operation = std::move(stream.queue.front());
    stream.queue.pop_front();
    stream.running = true;
    try {
      operation();
    } catch (...) {
      // A fault ends the stream's queued work, as it ends a GPU context's: what was queued after it never runs, so
      // it cannot write into host buffers whose owners the fault has since unwound.
      stream.running = false;
      stream.queue.clear();
      stream.completed = stream.queued;
      throw;
    }
    stream.running = false;
    ++stream.completed;
  }
}

// Operations queued while one of the stream's own runs (host code inside an emulated collective recording an event)
// join the queue and run after it.
// A fault that cudaFree met (a destructor cannot throw it) is reported by the next synchronisation, as a GPU
// reports a kernel's fault at the next call that waits.
void report_pending_fault() {
  std::string fault = std::exchange(streams().pending_fault, std::string());
  if (!fault.empty()) throw std::runtime_error(fault);
}

void run_all(Stream& stream) {
  while (stream.completed < stream.queued) run_until(stream, stream.queued);
}

}  // namespace

namespace diverge::emu {

void defer_stream(cudaStream_t stream, bool deferred) {
  Stream& s = stream_of(stream);
  s.deferred = deferred;
  if (!deferred) run_all(s);
}

void enqueue(cudaStream_t handle, std::function<void()> operation) {
  Stream& stream = stream_of(handle);
  stream.queue.push_back(std::move(operation));
  ++stream.queued;
  if (!stream.deferred && !stream.running) run_all(stream);
}

void finish_streams_before_free() {
  try {
    finish_all_streams();
  } catch (const std::exception& fault) {
    streams().pending_fault = fault.what();
  }
}

void finish_all_streams() {
  std::vector<Stream*> live;
  {
    std::lock_guard lock(streams().mutex);
    live = streams().live;
  }
  for (Stream* stream : live) run_all(*stream);
}

}  // namespace diverge::emu

extern "C" {

cudaError_t cudaStreamCreate(cudaStream_t* handle) {
  auto* stream = new Stream;
  Streams& all = streams();
  std::lock_guard lock(all.mutex);
  const bool first = all.created++ == 0;
  stream->deferred = all.deferral == Deferral::first ? first : all.deferral == Deferral::others && !first;
  all.live.push_back(stream);
  *handle = reinterpret_cast<cudaStream_t>(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) { return cudaStreamCreate(stream); }

// Priorities as a GPU reports them (lower numbers first); the emulator runs a queue when something waits for it, so a
// priority changes nothing here.
cudaError_t cudaDeviceGetStreamPriorityRange(int* least, int* greatest) {
  if (least != nullptr) *least = 0;
  if (greatest != nullptr) *greatest = -5;
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithPriority(cudaStream_t* stream, unsigned int, int) { return cudaStreamCreate(stream); }

// Destroying a stream lets its queued work finish first, as the runtime does. Its record stays (a few bytes): another
// stream's queued wait for one of its events may still look at it.
cudaError_t cudaStreamDestroy(cudaStream_t handle) {
  Stream* stream = &stream_of(handle);
  run_all(*stream);
  Streams& all = streams();
  std::lock_guard lock(all.mutex);
  std::erase(all.live, stream);
  all.retired.push_back(stream);
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  report_pending_fault();
  run_all(stream_of(stream));
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  report_pending_fault();
  diverge::emu::finish_all_streams();
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = reinterpret_cast<cudaEvent_t>(new Event);
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) { return cudaEventCreate(event); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete reinterpret_cast<Event*>(event);
  return cudaSuccess;
}

// The event marks what is queued on the stream so far; it takes the host time when the stream gets there.
cudaError_t cudaEventRecord(cudaEvent_t handle, cudaStream_t stream_handle) {
  auto* event = reinterpret_cast<Event*>(handle);
  Stream& stream = stream_of(stream_handle);
  event->stream = &stream;
  event->point = stream.queued + 1;
  event->at = std::make_shared<Timestamp>();
  diverge::emu::enqueue(stream_handle, [at = event->at] { *at = std::chrono::steady_clock::now(); });
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t handle) {
  report_pending_fault();
  const auto* event = reinterpret_cast<Event*>(handle);
  if (event->stream != nullptr) run_until(*event->stream, event->point);
  return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  cudaEventSynchronize(start);
  cudaEventSynchronize(end);
  *ms = std::chrono::duration<float, std::milli>(*reinterpret_cast<Event*>(end)->at -
                                                 *reinterpret_cast<Event*>(start)->at)
            .count();
  return cudaSuccess;
}

// Work queued on stream after this call waits for the event's point as recorded now; an event never recorded is
// complete.
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t handle, unsigned int) {
  const auto* event = reinterpret_cast<Event*>(handle);
  if (event->stream == nullptr) return cudaSuccess;
  Stream* producer = event->stream;
  const std::uint64_t point = event->point;
  diverge::emu::enqueue(stream, [producer, point] { run_until(*producer, point); });
  return cudaSuccess;
}

cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t function, void* data) {
  diverge::emu::enqueue(stream, [function, data] { function(data); });
  return cudaSuccess;
}

// The runtime's rules for pageable host memory, the only kind the engine uses: a copy from the host is staged at
// the call, so the caller may reuse its buffer at once; a copy to the host returns once it is done (after the work
// queued before it). Copies on the device and sets run in stream order.
cudaError_t cudaMemcpyAsync(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  diverge::emu::count(diverge::emu::Counted::copy_or_set);
  if (kind == cudaMemcpyDeviceToHost) report_pending_fault();
  if (kind == cudaMemcpyHostToDevice) {
    const auto* from = static_cast<const unsigned char*>(source);
    diverge::emu::enqueue(stream, [destination, staged = std::vector<unsigned char>(from, from + bytes)] {
      std::memcpy(destination, staged.data(), staged.size());
    });
  } else {
    diverge::emu::enqueue(stream, [=] { std::memmove(destination, source, bytes); });
    if (kind == cudaMemcpyDeviceToHost) run_all(stream_of(stream));
  }
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* destination, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  diverge::emu::count(diverge::emu::Counted::copy_or_set);
  diverge::emu::enqueue(stream, [=] { std::memset(destination, value, bytes); });
  return cudaSuccess;
}

}  // extern "C"
