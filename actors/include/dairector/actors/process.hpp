// Running a stage command (CONTRACT.md §2): JSON on standard input, one JSON
// value on standard output, exit status 0. The command is the leader of its own
// process group; a timeout or a cancel kills the whole group.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
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
/// with `env` added to the environment. Blocks until the command exits, the
/// timeout passes (the group is killed) or it is killed from outside.
/// `on_started` gets the process group id right after the fork.
process_outcome run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                            const std::string& workdir, const std::string& input, std::chrono::milliseconds timeout,
                            const std::function<void(pid_t)>& on_started);

/// Kills a process group (SIGKILL); harmless if it is gone.
void kill_process_group(pid_t pgid);

}  // namespace dairector::actors
