// The exit codes of `diverge` (README "Exit codes"), and how a subcommand ends the process with one.
#pragma once

#include <string>

namespace diverge::cli {

inline constexpr int kExitDone = 0;
inline constexpr int kExitError = 1;       // bad input or a failure, one line on stderr naming where
inline constexpr int kExitUsage = 2;       // unknown flag, missing or malformed argument
inline constexpr int kExitNonFinite = 3;   // training stopped: NaN or infinite loss, gradient or parameters
inline constexpr int kExitPreempted = 75;  // training stopped by a signal after writing a checkpoint (EX_TEMPFAIL:
                                           // try again later, e.g. `--resume auto` after a requeue)

// Thrown by a subcommand's callback to end the process with `code` after printing message (when not empty) as
// one line on stderr.
struct CommandExit {
  int code = kExitDone;
  std::string message;
};

}  // namespace diverge::cli
