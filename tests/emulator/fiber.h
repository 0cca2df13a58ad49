// Fibers for the CUDA emulator: one stack per emulated thread and a hand-written x86-64 context switch.
#pragma once

#include <cstddef>

namespace diverge::emu {

// A fiber: its own stack and the saved stack pointer of a suspended context. The context switch saves and restores
// only what the x86-64 System V ABI makes callee-saved (rbx, rbp, r12-r15, rsp) plus the MXCSR and x87 control
// words, so it costs tens of nanoseconds: ucontext makes a system call per switch (about 80x slower) and one OS
// thread per CUDA thread about 200x.
class Fiber {
 public:
  // A stack of `stack_bytes` (rounded up to pages) with an unmapped guard page below it: a fiber that overflows its
  // stack faults at once instead of corrupting its neighbour.
  explicit Fiber(std::size_t stack_bytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Makes the next resume() run entry(arg) from the top of the stack; when entry returns, the fiber finishes and
  // that resume() returns.
  void start(void (*entry)(void*), void* arg);

  // Called by the scheduler: runs the fiber until it calls suspend() or finish().
  void resume();
  // Called by the fiber: back to the scheduler that resumed it; returns when it is resumed again.
  void suspend();

 private:
  static void run(void* self);
  [[noreturn]] void finish();
  void switch_to_scheduler(bool finishing);

  void (*entry_)(void*) = nullptr;
  void* arg_ = nullptr;
  char* mapping_ = nullptr;
  std::size_t mapping_bytes_ = 0;
  char* stack_bottom_ = nullptr;  // lowest usable address
  std::size_t stack_bytes_ = 0;
  void* fiber_sp_ = nullptr;      // where the fiber's context is saved while it is suspended
  void* scheduler_sp_ = nullptr;  // where the scheduler's context is saved while the fiber runs
  // AddressSanitizer's view of the stacks: it must be told about every switch, or it reports the fiber's stack as
  // a stack-buffer overflow of the scheduler's.
  void* fake_stack_ = nullptr;
  const void* scheduler_stack_bottom_ = nullptr;
  std::size_t scheduler_stack_bytes_ = 0;
};

}  // namespace diverge::emu
