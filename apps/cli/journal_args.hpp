// What the journal commands share (docs/cli.md#common-options): which
// journal (`--journal`, else $DAIRECTOR_JOURNAL, else ./dairector.db), which
// pipeline (`--id`, may be left out when the journal holds one), who (`--by`),
// and turning journal errors into the exit codes of the contract.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dairector/journal/open.hpp"
#include "dairector/journal_store.hpp"

namespace dairector::cli {

struct journal_args {
  std::string path;  // empty: $DAIRECTOR_JOURNAL, else dairector.db
  std::string id;
  std::string by;    // empty: user:$USER
  std::string sync = "full";
  std::string server;      // --server URL: act on a running `dairector serve` instead
  std::string token_file;  // --token-file: the server's token (empty: the default file of `serve`)

  std::string journal_path() const;
  std::string who() const;
  /// `node`: who owns what it writes in a shared journal (a PostgreSQL
  /// cluster, docs/cluster.md); empty: this process, by pid and host.
  journal_options options(bool read_only, const std::string& node = {}) const;
  /// The server to act on: `--server`, else $DAIRECTOR_SERVER unless
  /// `--journal` was given; empty: the journal file.
  std::string server_url() const;
};

/// Checks an option that becomes part of an event or a log line (--by,
/// --note, --id, a worker's --name): at most `bytes_max` bytes of UTF-8 with
/// no control character, so that no line of `history` can be forged.
CLI::Validator plain_text(std::size_t bytes_max);

/// Adds --journal, --id and --by (and --sync when `writes` is true).
void add_journal_options(CLI::App* cmd, journal_args& args, bool writes);

/// Adds --server and --token-file (after add_journal_options: --server and
/// --journal exclude each other).
void add_server_options(CLI::App* cmd, journal_args& args);

/// The exit code for a core error (result.hpp's table: journal, fenced,
/// unavailable, owned, behind -> 5, else 2).
int exit_for(const error& err);

/// Prints "dairector CMD: message" on stderr and returns exit_for(err).
int report(const char* command, const error& err);

/// The pipeline to act on: `--id`, or the journal's only pipeline.
result<std::string> pick_pipeline(journal_store& store, const std::string& id);

/// A pipeline replayed from its journal (rule 8) and the folder its commands
/// ran in (the journal's meta, else `fallback_workdir`): what `resume` and
/// `serve` carry on from.
struct recovered_pipeline {
  system_state state;
  std::string workdir;
};
result<recovered_pipeline> recover_pipeline(journal_store& store, const std::string& id,
                                            const std::string& fallback_workdir);

/// The meta key under which a pipeline's command folder is kept.
std::string workdir_key(const std::string& pipeline);

/// Milliseconds since the Unix epoch (the CLI's clock; the core takes time as data).
std::int64_t wall_ms();

}  // namespace dairector::cli
