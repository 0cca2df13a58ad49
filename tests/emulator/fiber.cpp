// Fibers: mmap'd stacks with guard pages, the x86-64 context switch in assembly, AddressSanitizer annotations.
#include "tests/emulator/fiber.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#define DIVERGE_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DIVERGE_EMU_ASAN 1
#endif
#endif
#ifdef DIVERGE_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#error "the CUDA emulator's context switch is written for x86-64"
#endif

// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack, stores the stack pointer
// in *save_sp, then loads load_sp and restores the same from there: a function call that returns on another stack.
extern "C" void diverge_emu_switch(void** save_sp, void* load_sp);
// Where a fresh fiber's first switch returns to: calls r12(r13) and must never come back.
extern "C" void diverge_emu_fiber_entry();

asm(R"(
  .text
  .globl diverge_emu_switch
  .type diverge_emu_switch, @function
diverge_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size diverge_emu_switch, .-diverge_emu_switch

  .globl diverge_emu_fiber_entry
  .type diverge_emu_fiber_entry, @function
diverge_emu_fiber_entry:
  movq %r13, %rdi
  callq *%r12
  ud2
  .size diverge_emu_fiber_entry, .-diverge_emu_fiber_entry
)");

namespace diverge::emu {
namespace {

std::size_t page_bytes() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "CUDA emulator: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

}  // namespace

Fiber::Fiber(std::size_t stack_bytes) {
  const std::size_t page = page_bytes();
  stack_bytes_ = (stack_bytes + page - 1) / page * page;
  mapping_bytes_ = stack_bytes_ + page;
  void* mapping = ::mmap(nullptr, mapping_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                         -1, 0);
  if (mapping == MAP_FAILED) die("cannot map a fiber stack");
  mapping_ = static_cast<char*>(mapping);
  if (::mprotect(mapping_, page, PROT_NONE) != 0) die("cannot protect a fiber stack's guard page");
  stack_bottom_ = mapping_ + page;
}

Fiber::~Fiber() { ::munmap(mapping_, mapping_bytes_); }

void Fiber::start(void (*entry)(void*), void* arg) {
  entry_ = entry;
  arg_ = arg;
#ifdef DIVERGE_EMU_ASAN
  // A fiber abandoned mid-kernel (its block faulted) never unwound: clear the redzones its frames left behind.
  __asan_unpoison_memory_region(stack_bottom_, stack_bytes_);
#endif
  // The frame diverge_emu_switch pops: control words, r15, r14, r13 = arg, r12 = entry, rbx, rbp, return address.
  // The top is 16-byte aligned and the frame starts 80 bytes below it, so the stack pointer is 16-byte aligned
  // when diverge_emu_fiber_entry makes its call, as the ABI requires.
  auto top = reinterpret_cast<std::uintptr_t>(stack_bottom_ + stack_bytes_) & ~std::uintptr_t{15};
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 80);
  std::uint32_t mxcsr = 0;
  std::uint16_t x87 = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87));
  frame[0] = mxcsr | (static_cast<std::uint64_t>(x87) << 32);
  frame[1] = 0;                                           // r15
  frame[2] = 0;                                           // r14
  frame[3] = reinterpret_cast<std::uint64_t>(this);       // r13
  frame[4] = reinterpret_cast<std::uint64_t>(&Fiber::run);  // r12
  frame[5] = 0;                                           // rbx
  frame[6] = 0;                                           // rbp
  frame[7] = reinterpret_cast<std::uint64_t>(&diverge_emu_fiber_entry);
  fiber_sp_ = frame;
  fake_stack_ = nullptr;
}

void Fiber::run(void* self) {
  auto* fiber = static_cast<Fiber*>(self);
#ifdef DIVERGE_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &fiber->scheduler_stack_bottom_, &fiber->scheduler_stack_bytes_);
#endif
  fiber->entry_(fiber->arg_);
  fiber->finish();
}

void Fiber::resume() {
#ifdef DIVERGE_EMU_ASAN
  void* scheduler_fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&scheduler_fake_stack, stack_bottom_, stack_bytes_);
  diverge_emu_switch(&scheduler_sp_, fiber_sp_);
  __sanitizer_finish_switch_fiber(scheduler_fake_stack, nullptr, nullptr);
#else
  diverge_emu_switch(&scheduler_sp_, fiber_sp_);
#endif
}

void Fiber::switch_to_scheduler(bool finishing) {
#ifdef DIVERGE_EMU_ASAN
  // A finishing fiber passes no save slot, so that ASan drops its fake stack.
  __sanitizer_start_switch_fiber(finishing ? nullptr : &fake_stack_, scheduler_stack_bottom_, scheduler_stack_bytes_);
  diverge_emu_switch(&fiber_sp_, scheduler_sp_);
  __sanitizer_finish_switch_fiber(fake_stack_, &scheduler_stack_bottom_, &scheduler_stack_bytes_);
#else
  (void)finishing;
  diverge_emu_switch(&fiber_sp_, scheduler_sp_);
#endif
}

void Fiber::suspend() { switch_to_scheduler(false); }

void Fiber::finish() {
  switch_to_scheduler(true);
  std::abort();  // a finished fiber is never resumed without start()
}

}  // namespace diverge::emu
