// The `dairector` command line (docs/cli.md). Each command lives in its own
// file and registers itself on the app; its callback stores the exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace dairector::cli {

/// Exit codes of docs/cli.md#exit-codes.
enum exit_code : int {
  exit_done = 0,
  exit_stage_failed = 1,
  exit_usage = 2,
  exit_cancelled = 3,
  exit_waiting = 4,
  exit_journal = 5,
};

/// SIGINT and SIGTERM from now on only set a flag that long-running commands
/// (run, serve, worker) poll: they stop in their own time, losing nothing.
void catch_stop_signals();
bool stop_requested();

void add_check(CLI::App& app, int& exit_status);
void add_run(CLI::App& app, int& exit_status);      // run, resume
void add_inspect(CLI::App& app, int& exit_status);  // status, history
void add_list(CLI::App& app, int& exit_status);
void add_archive(CLI::App& app, int& exit_status);
void add_control(CLI::App& app, int& exit_status);  // invalidate, confirm, reject, cancel, rollback
void add_serve(CLI::App& app, int& exit_status);
void add_worker(CLI::App& app, int& exit_status);
void add_logs(CLI::App& app, int& exit_status);    // logs
void add_journal(CLI::App& app, int& exit_status);  // journal check, export, import
void add_journal_export(CLI::App& journal, int& exit_status);
void add_journal_import(CLI::App& journal, int& exit_status);

}  // namespace dairector::cli
