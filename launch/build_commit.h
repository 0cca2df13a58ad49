// The commit the diverge binary was built from, stamped at build time (launch/commit_stamp.cmake).
#pragma once

namespace diverge::cli {

// `git describe --always --dirty` of the source tree at the last build ("af8ec5f08295", "af8ec5f08295-dirty"), or
// "unknown" when it was built outside a git checkout.
const char* build_commit();

}  // namespace diverge::cli
