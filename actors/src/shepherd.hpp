// The shepherd: the process between the runtime and one stage command. It is
// forked by run_process and becomes a child subreaper, so that every process
// the command starts, even one that leaves the command's process group and
// session (setsid) or double-forks, stays below it: when a descendant's parent
// dies the kernel hands the descendant to the shepherd, never to init. It can
// therefore always find and kill the whole tree, which it does when the
// command's own process exits (the run is over), when the runtime asks
// (SIGTERM: cancel, timeout), or when the runtime dies (its end of the control
// pipe closes, even on SIGKILL). It exits only once the tree is dead; until
// then it holds `keep` open (the journal's owner lock), so a new owner of the
// journal can wait for the runs of a dead one to be gone.
//
// It runs in the child of a fork from a multithreaded process: it uses only
// async-signal-safe calls (raw system calls, stack buffers), never malloc,
// stdio or locks, and never returns.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace dairector::actors::detail {

/// What the shepherd reports on its status pipe: one message, written at
/// once (far below PIPE_BUF, so it arrives whole or not at all).
struct shepherd_report {
  enum kind_t : std::int32_t { exited = 1, cannot_start = 2 };
  std::int32_t kind = 0;
  std::int32_t value = 0;  // exited: the wait status; cannot_start: errno
};

/// The descriptors the shepherd works with; every other one it closes at once.
struct shepherd_fds {
  int in_read;      // the command's standard input
  int out_write;    // its standard output
  int err_write;    // its standard error
  int status_write; // shepherd_report, then end of file when the tree is dead
  int control_read; // end of file: the runtime is gone
  int keep;         // held until the tree is dead, not given to the command; -1: none
};

/// What the command is: everything built before the fork.
struct command_image {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* workdir;  // "" = stay
};

[[noreturn]] void run_shepherd(shepherd_fds fds, const command_image& command);

}  // namespace dairector::actors::detail
