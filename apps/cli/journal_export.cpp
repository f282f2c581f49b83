// `dairector journal export [--journal J] [--id ID] [--skip-damaged]`: the
// histories of a journal as JSON Lines on standard output, exactly the lines
// of `history --json` (docs/events.md#the-format), every pipeline in order of
// creation and each one's events in seq order: what `journal import` reads
// (docs/cli.md#journal-export-and-import). Read-only, so it works beside a
// running owner; each pipeline is one consistent read of its history.
//
// A pipeline is written whole or not at all, and only once it has read and
// replayed as `resume` would replay it, so every file it writes imports.
#include <cstdio>
#include <iostream>

#include "cli/journal_export.hpp"

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "dairector/codec.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

constexpr std::size_t output_buffer_bytes = 1u << 20;

struct export_options {
  journal_args journal;
  bool skip_damaged = false;
};

}  // namespace

result<std::vector<event>> sound_history(journal_store& store, const std::string& id) {
  auto history = store.history(id);
  if (!history) return history.err();
  if (auto state = replay(*history); !state) {
    // The journal's own damage report names the first event that does not replay.
    auto replayed = store.replayed(id);
    return replayed ? state.err() : replayed.err();
  }
  return history;
}

bool write_history(const std::vector<event>& history, std::FILE* out) {
  const pipeline_spec& spec = *history.front().spec;
  for (const event& e : history) {
    const std::string line = encode_event_text(e, &spec);
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size() || std::fputc('\n', out) == EOF) return false;
  }
  return true;
}

namespace {

int export_journal(const export_options& opt) {
  static char buffer[output_buffer_bytes];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
  auto store = open_journal(opt.journal.journal_path(), opt.journal.options(/*read_only=*/true));
  if (!store) return report("journal export", store.err());
  std::vector<std::string> ids;
  if (!opt.journal.id.empty()) {
    ids.push_back(opt.journal.id);
  } else {
    auto listed = (*store)->pipelines();
    if (!listed) return report("journal export", listed.err());
    for (pipeline_summary& p : *listed) ids.push_back(std::move(p.id));
  }
  std::size_t skipped = 0;
  for (const std::string& id : ids) {
    auto history = sound_history(**store, id);
    if (!history && history.err().code == errc::journal && opt.skip_damaged) {
      report("journal export", history.err());
      ++skipped;
      continue;
    }
    if (!history) {
      const int code = report("journal export", history.err());
      if (code == exit_journal)
        std::cerr << "dairector journal export: stopped before pipeline '" << escape_for_terminal(id)
                  << "': the output holds the pipelines before it, whole (--skip-damaged exports every sound one)\n";
      return code;
    }
    if (!write_history(*history, stdout)) break;
  }
  if (std::fflush(stdout) != 0 || std::ferror(stdout))
    return report("journal export", make_error(errc::journal, "cannot write the export to standard output"));
  if (skipped > 0) {
    std::cerr << "dairector journal export: skipped " << skipped << " damaged of " << ids.size()
              << " pipelines (every other one is exported whole)\n";
    return exit_journal;
  }
  return exit_done;
}

}  // namespace

void add_journal_export(CLI::App& journal, int& exit_status) {
  auto* cmd = journal.add_subcommand(
      "export", "Write histories as JSON Lines on standard output, one event per line (what `journal import` reads)");
  auto opt = std::make_shared<export_options>();
  cmd->add_option("--journal", opt->journal.path,
                  "The journal (default: $DAIRECTOR_JOURNAL, else dairector.db)");
  cmd->add_option("--id", opt->journal.id, "Only this pipeline (default: every pipeline, in order of creation)")
      ->check(plain_text(pipeline_id_bytes_max));
  cmd->add_flag("--skip-damaged", opt->skip_damaged,
                "Export every sound pipeline and name each damaged one on standard error (still exit 5)");
  cmd->callback([&exit_status, opt] { exit_status = export_journal(*opt); });
}

}  // namespace dairector::cli
