// `dairector journal check [--journal FILE] [--json]`: every damage in a
// journal, one line each: a stretch of the journal-wide order that is missing
// or unreadable, and each pipeline whose history does not read or replay
// (with the seq of its first event that cannot be trusted, and why). Exit 5
// if there is any, 0 if none. Read-only, so it works beside a running owner.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "dairector/journal/sqlite.hpp"

namespace dairector::cli {

namespace {

struct check_options {
  journal_args journal;
  bool as_json = false;
};

// A pipeline id as read from a damaged file may hold anything: control
// characters are shown as \uXXXX escapes, never sent to the terminal.
std::string printable(const std::string& text) {
  const std::string quoted = json(text).dump(-1, ' ', false, json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

json damage_to_json(const journal_damage& d) {
  json out = json::object();
  if (!d.pipeline.empty()) out["pipeline"] = d.pipeline;
  if (d.seq > 0) out["seq"] = d.seq;
  if (d.pos_from > 0) {
    out["pos_from"] = d.pos_from;
    out["pos_to"] = d.pos_to > 0 ? json(d.pos_to) : json(nullptr);  // null: to the end
  }
  out["reason"] = d.reason;
  return out;
}

std::string damage_line(const journal_damage& d) {
  if (d.pipeline.empty()) {
    std::string where = "pos " + std::to_string(d.pos_from);
    if (d.pos_to != d.pos_from) where += d.pos_to == 0 ? " and after" : " to " + std::to_string(d.pos_to);
    return where + ": " + printable(d.reason);
  }
  return "pipeline '" + printable(d.pipeline) + "'" + (d.seq > 0 ? " seq " + std::to_string(d.seq) : "") + ": " +
         printable(d.reason);
}

int check_journal(const check_options& opt) {
  auto store = open_journal(opt.journal.journal_path(), opt.journal.options(/*read_only=*/true));
  if (!store) return report("journal check", store.err());
  auto damage = (*store)->check();
  if (!damage) return report("journal check", damage.err());
  auto listed = (*store)->pipelines();
  if (!listed) return report("journal check", listed.err());
  std::size_t pipelines = 0, gaps = 0;
  for (const journal_damage& d : *damage) {
    (d.pipeline.empty() ? gaps : pipelines) += 1;
    std::cout << (opt.as_json ? damage_to_json(d).dump(-1, ' ', false, json::error_handler_t::replace)
                              : damage_line(d))
              << "\n";
  }
  if (opt.as_json) return damage->empty() ? exit_done : exit_journal;
  const std::string path = printable((*store)->path());
  if (damage->empty()) {
    std::cout << "journal " << path << ": no damage (" << listed->size() << " pipelines)\n";
    return exit_done;
  }
  std::cout << "journal " << path << ": " << pipelines << " of " << listed->size() << " pipelines damaged, " << gaps
            << (gaps == 1 ? " gap" : " gaps") << " in the journal-wide order\n";
  return exit_journal;
}

// `dairector journal upgrade [--journal FILE]`: an SQLite journal to the
// newest format, whole or not at all (docs/cli.md#journal-upgrade).
int upgrade_journal(const journal_args& args) {
  const std::string path = args.journal_path();
  if (is_postgresql_uri(path)) {
    std::cerr << "dairector journal upgrade: a PostgreSQL journal has one format; only an SQLite journal is upgraded\n";
    return exit_usage;
  }
  auto up = upgrade_sqlite_journal(path, args.options(/*read_only=*/false));
  if (!up) return report("journal upgrade", up.err());
  const std::string counts = std::to_string(up->events) + (up->events == 1 ? " event" : " events") + " of " +
                             std::to_string(up->pipelines) + (up->pipelines == 1 ? " pipeline" : " pipelines");
  if (up->from == up->to)
    std::cout << "journal " << printable(path) << ": already format " << up->to << " (" << counts << ")\n";
  else
    std::cout << "journal " << printable(path) << ": upgraded from format " << up->from << " to " << up->to << " ("
              << counts << ")\n";
  return exit_done;
}

}  // namespace

void add_journal(CLI::App& app, int& exit_status) {
  auto* journal = app.add_subcommand("journal", "Look after a journal: check it, move its histories");
  journal->require_subcommand(1);
  auto* check = journal->add_subcommand("check", "List all damage in a journal (exit 5 if any, 0 if none)");
  auto opt = std::make_shared<check_options>();
  check->add_option("--journal", opt->journal.path, "The journal: a file, or a postgresql:// URI (default: $DAIRECTOR_JOURNAL, else dairector.db)");
  check->add_flag("--json", opt->as_json, "One JSON object per damage (pipeline, seq, pos_from, pos_to, reason)");
  check->callback([&exit_status, opt] { exit_status = check_journal(*opt); });
  auto* upgrade = journal->add_subcommand(
      "upgrade", "Rewrite an SQLite journal in the newest format, whole or not at all (it must not be in use)");
  auto up = std::make_shared<journal_args>();
  upgrade->add_option("--journal", up->path, "The journal file (default: $DAIRECTOR_JOURNAL, else dairector.db)");
  upgrade->callback([&exit_status, up] { exit_status = upgrade_journal(*up); });
  add_journal_export(*journal, exit_status);
  add_journal_import(*journal, exit_status);
}

}  // namespace dairector::cli
