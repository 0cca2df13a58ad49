// What a .cu file sees when the host compiler builds it for the CUDA emulator: the toolkit's runtime API types and
// declarations, and a device side (thread indices, barriers, warp collectives, atomics, intrinsics) run on fibers.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <source_location>
#include <type_traits>

// Static shared memory: function-local thread_local variables are static per OS thread, and every fiber of a block
// runs on the one worker thread that runs the block, so the block's threads see one copy.
#undef __shared__
#define __shared__ thread_local

// The built-in variables, set by the scheduler before it resumes each emulated thread.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
inline constexpr int warpSize = 32;

namespace diverge::emu {

// A kernel launch as the emulator reports it.
struct LaunchInfo {
  const char* kernel = "";  // the kernel's name as written at the launch
  const char* file = "";    // where it was launched
  int line = 0;
  dim3 grid;
  dim3 block;
  std::size_t shared_bytes = 0;  // dynamic shared memory per block
};

// Runs body once per thread of every block of the grid: blocks spread over worker threads, the threads of a block
// as fibers in a seeded random order. Memory errors are the sanitizers' to find; misuse of barriers and warp
// collectives (a __syncthreads reached by part of a block, a shuffle reading a lane outside its mask, lanes of one
// mask at different collectives, a deadlock) throws std::runtime_error naming the kernel, block, thread and line.
void launch(const LaunchInfo& info, const std::function<void()>& body);

// Which streams defer their work (DIVERGE_EMU_DEFER, default others): none; the first stream a process creates (the
// engine's compute stream, kernels/cuda/context.cu); or every stream but the first (side streams such as the
// collectives'). A deferred stream runs its queue only when something waits for it (a stream or event
// synchronisation, a stream waiting on one of its events, a copy to the host, cudaFree); the others run each
// operation when it is queued. Either way a missing order between two streams reads or writes at the wrong time.
enum class Deferral : std::uint8_t { none, first, others };
// Overrides the policy for one stream (the emulator's own tests); a stream no longer deferred runs its queue.
void defer_stream(cudaStream_t stream, bool deferred);
// Queues operation on stream (0: the legacy default stream, never deferred), to run in the stream's order.
void enqueue(cudaStream_t stream, std::function<void()> operation);

// What the process asks of the device besides kernels, counted beside the launches for DIVERGE_EMU_LAUNCHES=1, which
// prints every count as the process exits (a GPU pays a launch for each).
enum class Counted : std::uint8_t { matmul, copy_or_set };
void count(Counted what);

// Runs every stream's queue to its end (cudaDeviceSynchronize).
void finish_all_streams();
// The same for cudaFree, which may run in a destructor: a fault is kept for the next synchronisation to throw.
void finish_streams_before_free();

void barrier(std::source_location where);
// The block's dynamic shared memory (LaunchInfo::shared_bytes), filled with 0xff bytes (NaN for floats) first.
void* dynamic_shared();
unsigned active_mask();

enum class Shuffle : std::uint8_t { idx, up, down, bfly };
// shfl.sync on a value of up to 8 bytes: lanes split into segments of `width`; a source outside the segment (up,
// down, bfly) leaves the lane its own value; a source outside the mask is an error.
std::uint64_t shuffle(unsigned mask, std::uint64_t bits, Shuffle mode, int lane_arg, int width,
                      std::source_location where);
// The predicates of the mask's lanes as a bit mask (ballot; any and all follow from it).
unsigned ballot(unsigned mask, bool predicate, const char* name, std::source_location where);
// The lanes of the mask holding the same value as this lane.
unsigned match_any(unsigned mask, std::uint64_t bits, std::source_location where);
void syncwarp(unsigned mask, std::source_location where);

// The tensor-core twins of kernels/cuda/ptx.h: the whole warp's fragments gathered, multiplied and scattered back
// exactly as the PTX ISA lays them out (f32 accumulation in k order; the hardware's order may differ in the last
// bits).
void mma_m16n8k16_bf16(float* d, const std::uint32_t* a, const std::uint32_t* b, const float* c,
                       std::source_location where);
void ldmatrix(std::uint32_t* r, int matrices, bool transpose, const void* row_address, std::source_location where);

// The twins of cp.async (kernels/cuda/ptx.h). The emulator takes the latest schedule the PTX allows: the source is
// read at issue, but shared memory is written only when cp_async_wait completes the copy's group, so a kernel that
// reads its tile before waiting sees the poison or the previous tile. Misaligned addresses and a thread exiting
// with copies not waited for are faults naming the line.
void cp_async(void* shared_destination, const void* global_source, unsigned source_bytes, std::source_location where);
void cp_async_commit();
void cp_async_wait(int pending_groups, std::source_location where);

template <class T>
std::uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8, "warp collectives move values of up to 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}

template <class T>
T from_bits(std::uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

}  // namespace diverge::emu

inline void __syncthreads(std::source_location where = std::source_location::current()) {
  diverge::emu::barrier(where);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, std::source_location where = std::source_location::current()) {
  diverge::emu::syncwarp(mask, where);
}
inline unsigned __activemask() { return diverge::emu::active_mask(); }

template <class T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = warpSize,
              std::source_location where = std::source_location::current()) {
  using namespace diverge::emu;
  return from_bits<T>(shuffle(mask, to_bits(value), Shuffle::idx, src_lane, width, where));
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                 std::source_location where = std::source_location::current()) {
  using namespace diverge::emu;
  return from_bits<T>(shuffle(mask, to_bits(value), Shuffle::up, static_cast<int>(delta), width, where));
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = warpSize,
                   std::source_location where = std::source_location::current()) {
  using namespace diverge::emu;
  return from_bits<T>(shuffle(mask, to_bits(value), Shuffle::down, static_cast<int>(delta), width, where));
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = warpSize,
                  std::source_location where = std::source_location::current()) {
  using namespace diverge::emu;
  return from_bits<T>(shuffle(mask, to_bits(value), Shuffle::bfly, lane_mask, width, where));
}
inline unsigned __ballot_sync(unsigned mask, int predicate,
                              std::source_location where = std::source_location::current()) {
  return diverge::emu::ballot(mask, predicate != 0, "__ballot_sync", where);
}
inline int __any_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return diverge::emu::ballot(mask, predicate != 0, "__any_sync", where) != 0;
}
inline int __all_sync(unsigned mask, int predicate, std::source_location where = std::source_location::current()) {
  return diverge::emu::ballot(mask, predicate != 0, "__all_sync", where) == mask;
}
template <class T>
unsigned __match_any_sync(unsigned mask, T value, std::source_location where = std::source_location::current()) {
  return diverge::emu::match_any(mask, diverge::emu::to_bits(value), where);
}

// Atomics are real atomics: blocks run concurrently on the worker threads.
template <class T>
T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value, std::memory_order_relaxed);
}
template <class T>
T atomicExch(T* address, T value) {
  return std::atomic_ref<T>(*address).exchange(value, std::memory_order_relaxed);
}
template <class T>
T atomicCAS(T* address, T expected, T desired) {
  std::atomic_ref<T>(*address).compare_exchange_strong(expected, desired, std::memory_order_relaxed);
  return expected;
}
namespace diverge::emu {
// Replaces *address by value while `better(value, current)` holds; returns the old value (atomicMax, atomicMin).
template <class T, class Better>
T atomic_replace_while(T* address, T value, Better better) {
  std::atomic_ref<T> target(*address);
  T old = target.load(std::memory_order_relaxed);
  while (better(value, old) && !target.compare_exchange_weak(old, value, std::memory_order_relaxed)) {
  }
  return old;
}
}  // namespace diverge::emu
template <class T>
T atomicMax(T* address, T value) {
  return diverge::emu::atomic_replace_while(address, value, [](T a, T b) { return b < a; });
}
template <class T>
T atomicMin(T* address, T value) {
  return diverge::emu::atomic_replace_while(address, value, [](T a, T b) { return a < b; });
}

// Intrinsics as the host computes them: the fast-math variants are the exact functions (kernels are compared with
// tolerances that cover the hardware's approximations).
template <class T>
T __ldg(const T* address) {
  return *address;
}
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __saturatef(float x) { return std::fmin(std::fmax(x, 0.0f), 1.0f); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline int __popc(unsigned x) { return std::popcount(x); }
inline int __clz(unsigned x) { return std::countl_zero(x); }
inline int __ffs(unsigned x) { return x == 0 ? 0 : std::countr_zero(x) + 1; }
