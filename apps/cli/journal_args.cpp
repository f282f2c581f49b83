#include "cli/journal_args.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

// How long a new owner waits for the stage commands of an owner that died
// mid-run: they are killed as soon as they notice (milliseconds), so this
// only bounds a wait for something unexpected.
constexpr std::chrono::milliseconds previous_runs_wait_ms_max{10000};
constexpr std::chrono::milliseconds previous_runs_poll_ms{20};

}  // namespace

std::string journal_args::journal_path() const {
  if (!path.empty()) return path;
  if (const char* env = std::getenv("DAIRECTOR_JOURNAL"); env && *env) return env;
  return "dairector.db";
}

std::string journal_args::who() const {
  if (!by.empty()) return by;  // checked by plain_text
  const char* user = std::getenv("USER");
  const std::string name = user && *user ? user : "cli";
  return "user:" + (control_refusal(name) ? escape_for_terminal(name) : name);
}

std::string journal_args::server_url() const {
  if (!server.empty()) return server;
  if (!path.empty()) return {};  // an explicit journal beats the environment's server
  const char* env = std::getenv("DAIRECTOR_SERVER");
  return env && *env ? env : "";
}

journal_options journal_args::options(bool read_only, const std::string& node) const {
  journal_options o;
  o.read_only = read_only;
  o.sync = sync == "normal" ? journal_sync::normal : journal_sync::full;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  o.owner = node.empty() ? "pid " + std::to_string(::getpid()) + " on host " + host : node;
  // Test seam for fault tests from outside the process: the journal fails
  // every write past this many events, as a full disk would.
  if (const char* n = std::getenv("DAIRECTOR_TEST_JOURNAL_FAIL_AFTER_EVENTS"); n && *n)
    o.fail_after_events = std::strtoull(n, nullptr, 10);
  // The format of a journal this process creates (docs/cli.md#environment):
  // 1 for a dairector that reads no newer; unset, the newest.
  if (const char* f = std::getenv("DAIRECTOR_JOURNAL_FORMAT"); f && *f) {
    char* end = nullptr;
    const long v = std::strtol(f, &end, 10);
    o.create_format = *end == '\0' && v > 0 && v < 100 ? static_cast<int>(v) : -1;  // -1: refused by name
  }
  // An owner killed mid-run: its stages start again only once none of the
  // commands it started still runs (never twice at once).
  const auto give_up = std::chrono::steady_clock::now() + previous_runs_wait_ms_max;
  o.wait_for_previous_runs = [give_up, said = false](const std::string& previous) mutable {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    if (!said)
      std::cerr << "dairector: waiting for the stage commands that the journal's previous owner (" << previous
                << ", no longer running) started to end\n";
    said = true;
    std::this_thread::sleep_for(previous_runs_poll_ms);
    return true;
  };
  return o;
}

CLI::Validator plain_text(std::size_t bytes_max) {
  return CLI::Validator(
      [bytes_max](const std::string& text) -> std::string {
        if (text.size() > bytes_max) return "longer than " + std::to_string(bytes_max) + " bytes";
        if (auto why = control_refusal(text)) return *why;
        return {};
      },
      "TEXT");
}

void add_journal_options(CLI::App* cmd, journal_args& args, bool writes) {
  cmd->add_option("--journal", args.path, "The journal: a file, or a postgresql:// URI (default: $DAIRECTOR_JOURNAL, else dairector.db)");
  cmd->add_option("--id", args.id, "The pipeline (may be left out when the journal holds one)")
      ->check(plain_text(pipeline_id_bytes_max));
  if (!writes) return;
  cmd->add_option("--by", args.by, "Who does it, recorded in the journal (default: user:$USER)")
      ->check(plain_text(by_bytes_max));
  cmd->add_option("--sync", args.sync,
                  "full: every acknowledged event survives power loss (default); normal: survives a crash of "
                  "this process, the last commits may roll back after power loss")
      ->check(CLI::IsMember({"full", "normal"}));
}

void add_server_options(CLI::App* cmd, journal_args& args) {
  auto* server = cmd->add_option("--server", args.server,
                                 "Act on a running `dairector serve` (http://HOST:PORT; default: $DAIRECTOR_SERVER "
                                 "unless --journal is given) instead of a journal file");
  if (auto* journal = cmd->get_option_no_throw("--journal")) server->excludes(journal);
  cmd->add_option("--token-file", args.token_file,
                  "With --server: the server's token file, whose first line is sent as `Authorization: Bearer` "
                  "(default: the one `serve` uses by default, $XDG_CONFIG_HOME/dairector/token, else "
                  "~/.config/dairector/token)");
}

int exit_for(const error& err) { return exit_code_for(err.code); }

int report(const char* command, const error& err) {
  // Messages quote outside data (a spec's text, a journal's rows, a server's
  // answer): escaped, they stay one line on the terminal.
  std::cerr << "dairector " << command << ": " << escape_for_terminal(err.message) << "\n";
  return exit_for(err);
}

result<std::string> pick_pipeline(journal_store& store, const std::string& id) {
  if (!id.empty()) return id;
  auto all = store.pipelines();
  if (!all) return all.err();
  if (all->empty()) {
    // Nothing readable may still be damage (a page of the table that cannot be read).
    auto gaps = store.gaps();
    if (!gaps) return gaps.err();
    if (!gaps->empty())
      return make_error(errc::journal, "journal " + store.path() + " holds no readable pipeline: " +
                                           gaps->front().reason + " (`dairector journal check` lists the damage)");
    return make_error(errc::not_found, "journal " + store.path() + " holds no pipeline");
  }
  if (all->size() == 1) return all->front().id;
  std::string names;
  for (const auto& p : *all) names += (names.empty() ? "" : ", ") + p.id;
  return make_error(errc::not_found, "journal " + store.path() + " holds " + std::to_string(all->size()) +
                                         " pipelines (" + names + "): choose one with --id");
}

std::string workdir_key(const std::string& pipeline) { return "workdir:" + pipeline; }

result<recovered_pipeline> recover_pipeline(journal_store& store, const std::string& id,
                                            const std::string& fallback_workdir) {
  auto history = store.history(id);
  if (!history) return history.err();
  auto state = replay(*history);
  if (!state) return state.err();
  auto workdir = store.get_meta(workdir_key(id));
  if (!workdir) return workdir.err();
  return recovered_pipeline{std::move(*state), workdir->value_or(fallback_workdir)};
}

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace dairector::cli
