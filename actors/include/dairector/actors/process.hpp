// Running a stage command (docs/protocol.md): JSON on standard input, one JSON
// value on standard output, exit status 0. A run's processes never outlive it:
// each command runs below a "shepherd" process of its own (a child subreaper,
// so that nothing the command starts can leave its tree, not even through
// setsid or a double fork), which kills the whole tree when the command's
// own process exits, on a timeout or a cancel, and when this process dies,
// even by SIGKILL.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dairector::actors {

inline constexpr std::size_t command_stdout_bytes_max = 16u << 20;
inline constexpr std::size_t command_stderr_tail_bytes = 2048;

struct process_outcome {
  bool ok = false;            // exit 0 and output collected
  std::string output;         // standard output
  std::string error;          // why it failed (a sentence), with the tail of stderr
};

/// Runs `argv` with `input` on standard input in `workdir` (empty = current),
/// with `env` added to the environment. Blocks until the command's own
/// process exits, the timeout passes or kill_process_group ends it, and in
/// every case until every process the command started is dead too: its
/// output then is all there is, and no pipe a leftover holds is waited on.
/// The timeout holds whatever the command does with its descriptors.
/// `on_started` gets the run's id for kill_process_group (not a process id).
/// `on_stderr` (may be empty) gets standard error as it is read, every byte
/// of it, on the calling thread: the stage's log (stage_logs.hpp).
process_outcome run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                            const std::string& workdir, const std::string& input, std::chrono::milliseconds timeout,
                            const std::function<void(pid_t)>& on_started,
                            const std::function<void(std::string_view)>& on_stderr = {});

/// Ends a run that `on_started` announced: its command and every process it
/// started are killed (SIGKILL), and run_process returns. Harmless once the
/// run is over; ids are not process ids, so a late call hits nothing else.
void kill_process_group(pid_t run_id);

/// A descriptor every run holds open, not given to the command, until all
/// of its processes are dead, even after this process is gone. The CLI hands
/// the journal's owner lock here: a lock taken with flock belongs to the open
/// file, so the next owner of the journal can wait until no command started
/// by a dead owner is still running. Takes a copy, kept until this process
/// exits; only the first call counts.
void hold_in_runs(int fd);

}  // namespace dairector::actors
