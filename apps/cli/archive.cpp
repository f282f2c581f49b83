// `dairector archive` (docs/cli.md#archive). The order is what makes it safe:
// the file first, durable (its data and its folder's entry fsynced), then the
// delete, one transaction. Killed in between, the histories are in the
// journal and in the file; running `archive` again writes them to a new
// file and deletes them then (the older file holds the same histories and
// may be removed). The journal's lock means no writer moves beside it: a
// running `serve` holds it (exit 5), and archives through POST /archive.
#include "cli/archive.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/journal_export.hpp"
#include "cli/server_client.hpp"
#include "dairector/codec.hpp"
#include "dairector/plan.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

struct archive_options {
  journal_args journal;
  std::string finished_before;
  std::vector<std::string> ids;
  std::string to;
};

bool finished(pipeline_outcome o) {
  return o == pipeline_outcome::done || o == pipeline_outcome::failed || o == pipeline_outcome::cancelled;
}

// The pipelines to move, in order of creation.
result<std::vector<std::string>> select(journal_store& store, const archive_selection& which) {
  std::vector<std::string> out;
  if (!which.ids.empty()) {
    for (const std::string& id : which.ids) {
      auto state = store.replayed(id);
      if (!state) return state.err();
      const pipeline_outcome o = outcome(*state);
      if (!finished(o))
        return make_error(errc::refused, "pipeline '" + id + "' is " + to_string(o) +
                                             ": only finished pipelines (done, failed or cancelled) are archived");
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
    return out;
  }
  auto all = store.pipelines();
  if (!all) return all.err();
  for (const pipeline_summary& p : *all) {
    if (p.last_ms >= *which.finished_before) continue;
    auto state = store.replayed(p.id);
    if (!state) {
      if (state.err().code == errc::journal) continue;  // damaged: `journal check` names it; never moved
      return state.err();
    }
    if (finished(outcome(*state))) out.push_back(p.id);
  }
  return out;
}

std::optional<error> file_error(const std::string& file, const std::string& what) {
  return make_error(errc::journal, "archive file " + file + ": " + what + " (" + std::strerror(errno) + ")");
}

// Writes the histories, then fsyncs the file and its folder.
std::optional<error> write_archive(journal_store& store, const std::vector<std::string>& ids, const std::string& file,
                                   std::uint64_t& events) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return file_error(file, "cannot be created (an archive is never overwritten)");
  std::FILE* out = ::fdopen(fd, "w");
  if (!out) {
    ::close(fd);
    return file_error(file, "cannot be written");
  }
  std::optional<error> err;
  for (const std::string& id : ids) {
    auto history = sound_history(store, id);
    if (!history) {
      err = history.err();
      break;
    }
    if (!write_history(*history, out)) {
      err = file_error(file, "cannot be written");
      break;
    }
    events += history->size();
  }
  if (!err && (std::fflush(out) != 0 || ::fsync(fd) != 0)) err = file_error(file, "cannot be made durable");
  std::fclose(out);
  if (err) {
    std::filesystem::remove(file);  // nothing was deleted: no half archive is left to mislead
    return err;
  }
  const std::string folder = std::filesystem::absolute(file).parent_path().string();
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0 || ::fsync(dir) != 0) err = file_error(file, "its folder cannot be made durable");
  if (dir >= 0) ::close(dir);
  return err;
}

int archive_command(const archive_options& opt) {
  archive_selection which;
  which.ids = opt.ids;
  if (!opt.finished_before.empty()) {
    auto before = parse_archive_date(opt.finished_before, "--finished-before");
    if (!before) return report("archive", before.err());
    which.finished_before = *before;
  }
  const std::string file = opt.to.empty() ? archive_file_name(wall_ms()) : opt.to;
  if (const std::string url = opt.journal.server_url(); !url.empty()) {
    auto server = server_client::open(url, opt.journal.token_file);
    if (!server) return report("archive", server.err());
    json body = which.ids.empty() ? json{{"finished_before", opt.finished_before}} : json{{"ids", which.ids}};
    auto answer = server->post("/archive", body);
    if (!answer) return report("archive", answer.err());
    std::cout << "archived " << answer->value("pipelines", json::array()).size() << " pipelines ("
              << answer->value("events", 0) << " events) to " << escape_for_terminal(answer->value("file", ""))
              << " on the server\n";
    return exit_done;
  }
  auto store = open_journal(opt.journal.journal_path(), opt.journal.options(/*read_only=*/false));
  if (!store) return report("archive", store.err());
  auto done = archive_pipelines(**store, which, file);
  if (!done) return report("archive", done.err());
  if (done->pipelines.empty()) {
    std::cout << "nothing to archive (no file written)\n";
    return exit_done;
  }
  std::cout << "archived " << done->pipelines.size() << " pipelines (" << done->events << " events) to "
            << escape_for_terminal(done->file) << "\n";
  return exit_done;
}

}  // namespace

result<std::int64_t> parse_archive_date(const std::string& text, const std::string& what) {
  auto refuse = [&] {
    return make_error(errc::decode_failed, what + " must be a date (2026-11-01) or a date and time in UTC "
                                                  "(2026-11-01T12:00:00Z), not '" + escape_for_terminal(text) + "'");
  };
  std::string t = text;
  if (t.size() == 10) t += "T00:00:00";
  if (!t.empty() && t.back() == 'Z') t.pop_back();
  if (t.size() == 19) t += ".000";
  if (t.size() != 23) return refuse();
  auto ms = parse_time(t + "Z");
  if (!ms) return refuse();
  return *ms;
}

std::string archive_file_name(std::int64_t now_ms) {
  const std::string iso = format_time(now_ms);  // 2026-11-22T04:20:33.123Z
  std::string compact;
  for (char c : iso.substr(0, 19))
    if (c != '-' && c != ':') compact += c;
  return "archive-" + compact + "Z.jsonl";
}

result<archive_report> archive_pipelines(journal_store& store, const archive_selection& which,
                                         const std::string& file) {
  if (!store.archives())
    return make_error(errc::journal, "journal " + store.path() + ": archive is not supported on it yet (SQLite only)");
  auto ids = select(store, which);
  if (!ids) return ids.err();
  archive_report out{file, *ids, 0};
  if (ids->empty()) return out;
  if (auto err = write_archive(store, *ids, file, out.events)) return *err;
  // Test seam (tests/apps/archive_test.sh): killed here, the histories are
  // in the durable file and still in the journal.
  if (const char* stop = std::getenv("DAIRECTOR_TEST_ARCHIVE_KILL"); stop && std::string(stop) == "after_file")
    std::raise(SIGKILL);
  auto removed = store.remove_pipelines(*ids);
  if (!removed) return removed.err();
  return out;
}

void add_archive(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("archive",
                                 "Move finished histories out of the journal into a JSON Lines file (journal import restores them)");
  auto opt = std::make_shared<archive_options>();
  cmd->add_option("--journal", opt->journal.path,
                  "The journal: a file, or a postgresql:// URI (default: $DAIRECTOR_JOURNAL, else dairector.db)");
  add_server_options(cmd, opt->journal);
  auto* before = cmd->add_option("--finished-before", opt->finished_before,
                                 "Every finished pipeline whose last event is before this date (UTC): 2026-11-01 or "
                                 "2026-11-01T12:00:00Z");
  auto* ids = cmd->add_option("--id", opt->ids, "These finished pipelines (done, failed or cancelled)")
                  ->check(plain_text(pipeline_id_bytes_max));
  before->excludes(ids);
  cmd->add_option("--to", opt->to, "The archive file (default: archive-YYYYMMDDTHHMMSSZ.jsonl here); never overwritten");
  cmd->callback([&exit_status, opt, before, ids] {
    if (before->count() == 0 && ids->count() == 0) {
      std::cerr << "dairector archive: say which pipelines: --finished-before DATE or --id ID...\n";
      exit_status = exit_usage;
      return;
    }
    exit_status = archive_command(*opt);
  });
}

}  // namespace dairector::cli
