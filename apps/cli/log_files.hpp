// Stage logs on the command line and over HTTP (docs/cli.md#logs): where a
// process keeps them (`--log-dir`, `--log-runs` of run, resume and serve)
// and how a reader follows one run's log while it grows. The files and their
// bounds are stage_logs.hpp's.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>

#include "dairector/actors/stage_logs.hpp"
#include "dairector/result.hpp"

namespace dairector::cli {

struct log_args {
  std::string dir;  // empty: beside the journal (log_root)
  std::size_t runs = actors::stage_log_runs_default;
};

/// Adds --log-dir (and --log-runs when `writes`: the processes that keep logs).
void add_log_options(CLI::App* cmd, log_args& args, bool writes);

/// The folder of the logs: --log-dir, else JOURNAL.logs beside a journal
/// file, else (a PostgreSQL journal: no file to sit beside) ./dairector.logs.
std::string log_root(const log_args& args, const std::string& journal_path);

/// Starts the writer of the logs a run, resume or serve keeps (stage_logs.hpp).
result<caf::actor> start_log_writer(caf::actor_system& sys, const log_args& args, const std::string& journal_path,
                                    std::function<void(const std::string&)> log);

/// Reads one run's log from its start, following it while it is live.
class log_follower {
 public:
  enum class step { more, waiting, ended };
  /// False if the run has no log.
  bool open(const std::string& folder, std::uint64_t run);
  ~log_follower();
  log_follower() = default;
  log_follower(const log_follower&) = delete;
  log_follower& operator=(const log_follower&) = delete;
  /// Appends up to `bytes_max` new bytes to `out`: `more` when some came,
  /// `waiting` when none yet (the run is live), `ended` when none ever will.
  step read(std::string& out, std::size_t bytes_max);

 private:
  std::string live_path_;  // empty once the run has ended
  int fd_ = -1;
  std::uint64_t offset_ = 0;
};

}  // namespace dairector::cli
