// A group for tests that simulate other ranks: every collective is an error unless the test overrides it.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "engine/comm/comm.h"
#include "engine/error.h"

namespace diverge::test {

// Rank 0 of `size` ranks; a subclass overrides the collectives its test expects, and any other call throws an Error
// naming the stand-in and the collective.
class SimulatedGroup : public Comm {
 public:
  SimulatedGroup(std::string name, int size) : name_(std::move(name)), size_(size) {}
  int rank() const override { return 0; }
  int size() const override { return size_; }
  std::string describe() const override { return name_; }
  void allreduce(const Tensor&, ReduceOp) override { unexpected("allreduce"); }
  void reduce_scatter(const Tensor&, const Tensor&, ReduceOp) override { unexpected("reduce_scatter"); }
  void allgather(const Tensor&, const Tensor&) override { unexpected("allgather"); }
  void all_to_all_v(const Tensor&, std::span<const std::int64_t>, const Tensor&,
                    std::span<const std::int64_t>) override {
    unexpected("all_to_all_v");
  }
  void broadcast(const Tensor&, int) override { unexpected("broadcast"); }
  void barrier() override { unexpected("barrier"); }
  std::unique_ptr<Comm> split(int, int) override { unexpected("split"); }

 private:
  [[noreturn]] void unexpected(const char* op) const { throw Error(name_, std::string(op) + " is not expected here"); }
  std::string name_;
  int size_;
};

}  // namespace diverge::test
