// The NCCL side of the groups in a build without NCCL (DIVERGE_NCCL=OFF, no nvcc, the emulator): an Error to use.
#include "engine/comm/nccl_comm.h"
#include "engine/error.h"

namespace diverge {
namespace {

[[noreturn]] void refuse() {
  throw Error("NCCL", "this diverge was built without NCCL (configure with -DDIVERGE_NCCL=ON; it needs nvcc and "
                      "nccl.h)");
}

}  // namespace

bool nccl_built() { return false; }

std::string nccl_version() { return "not built (DIVERGE_NCCL=OFF, or no nvcc or nccl.h)"; }

int use_local_gpu(Comm&) { refuse(); }

std::unique_ptr<Comm> make_nccl_comm(std::unique_ptr<Comm>) { refuse(); }

}  // namespace diverge
