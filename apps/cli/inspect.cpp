// `dairector status` and `dairector history` (docs/cli.md): read-only, so
// they work beside a running owner (the journal is in WAL mode). `status --at
// SEQ` is time travel: the state right after event SEQ, replayed. With
// `--server URL` the history comes from a running `dairector serve` (GET
// /pipelines/ID/history) and everything else is the same code: the same
// replay, the same output.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/server_client.hpp"
#include "dairector/codec.hpp"
#include "dairector/plan.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

struct inspect_options {
  journal_args journal;
  std::uint64_t at = 0;  // 0: now
  bool as_json = false;
};

// The pipeline's verified history.
result<std::vector<event>> read_history(const journal_args& args) {
  if (const std::string url = args.server_url(); !url.empty()) {
    auto server = server_client::open(url, args.token_file);
    if (!server) return server.err();
    auto id = server->pick_pipeline(args.id);
    if (!id) return id.err();
    return server->history(*id);
  }
  auto store = open_journal(args.journal_path(), args.options(/*read_only=*/true));
  if (!store) return store.err();
  auto id = pick_pipeline(**store, args.id);
  if (!id) return id.err();
  return (*store)->history(*id);
}

// A live server's stages, for their `waiting` (docs/cli.md#status): only
// a server knows what a running stage waits for; the journal says `running`.
json live_stages(const inspect_options& opt, const system_state& s) {
  const std::string url = opt.journal.server_url();
  if (url.empty() || opt.at > 0 || s.empty()) return json::array();
  auto server = server_client::open(url, opt.journal.token_file);
  auto live = server ? server->get(pipeline_path(s.pipeline())) : result<json>(server.err());
  if (!live || !live->is_object() || !live->contains("stages") || !(*live)["stages"].is_array()) return json::array();
  return (*live)["stages"];
}

// The stage's wait as the server said it, if it is this run's.
const json* wait_of(const json& stages, const system_state& s, stage_index i) {
  if (i >= stages.size() || !stages[i].is_object() || !stages[i].contains("waiting")) return nullptr;
  const json& st = stages[i];
  if (!st.contains("run") || st["run"] != json(s.stage(i).run) || !st["waiting"].is_object()) return nullptr;
  return &st["waiting"];
}

int status(const inspect_options& opt) {
  auto history = read_history(opt.journal);
  if (!history) return report("status", history.err());
  auto state = replay(*history, opt.at > 0 ? opt.at : UINT64_MAX);
  if (!state) return report("status", state.err());
  const system_state& s = *state;
  const json live = live_stages(opt, s);
  if (opt.as_json) {
    json out = state_to_json(s);
    for (stage_index i = 0; i < s.size(); ++i)
      if (const json* w = wait_of(live, s, i)) out["stages"][i]["waiting"] = *w;
    std::cout << out.dump(2) << "\n";
    return exit_done;
  }
  // Every line is escaped: ids, errors and messages may come from outside
  // (an old journal, a command's stderr).
  std::ostringstream head;
  head << "pipeline '" << s.pipeline() << "' at seq " << s.seq();
  if (opt.at > 0) head << " of " << history->size() << " (" << format_time((*history)[s.seq() - 1].at_ms) << ")";
  head << ": " << to_string(outcome(s));
  std::cout << escape_for_terminal(head.str()) << "\n";
  for (stage_index i = 0; i < s.size(); ++i) {
    const stage_state& st = s.stage(i);
    std::ostringstream line;
    line << "  " << std::left << std::setw(14) << s.spec()[i].name << std::setw(11) << to_string(s.status(i));
    if (st.run) line << "run " << std::setw(6) << st.run << " attempt " << st.attempt;
    if (const std::int64_t at = s.retry_at(i)) line << "  retry at " << format_time(at);
    if (s.status(i) == stage_status::failed && s.payload(i).error) line << "  " << *s.payload(i).error;
    if (const json* w = wait_of(live, s, i))
      line << "  waiting for a " << w->value("for", std::string("worker")) << " since " << w->value("since", std::string("?"))
           << ": " << w->value("reason", std::string("?"));
    std::cout << escape_for_terminal(line.str()) << "\n";
  }
  if (const confirmation* c = s.pending())
    std::cout << escape_for_terminal("waiting for confirmation on '" + s.spec()[c->stage].name + "': " + c->message)
              << "\n";
  return exit_done;
}

// One line for people: seq, time, who, what. Escaped as a whole: whatever an
// old journal holds in `by`, a note or an error, it cannot print a line of
// its own.
std::string history_line(const event& e, const pipeline_spec& spec) {
  std::ostringstream out;
  out << std::right << std::setw(5) << e.seq << "  " << format_time(e.at_ms) << "  " << std::left << std::setw(14)
      << e.by << " " << std::setw(22) << to_string(e.type);
  if (e.stage != no_stage && e.stage < spec.size()) out << " " << spec[e.stage].name;
  if (e.run && e.type != event_type::stage_started) out << " run " << e.run;
  if (e.type == event_type::stage_started) out << " (run " << e.run << ")";
  switch (e.type) {
    case event_type::stage_failed:
    case event_type::confirmation_requested: out << ": " << e.text; break;
    case event_type::result_discarded: out << " (" << e.text << ", fenced)"; break;
    case event_type::confirmation_resolved:
      out << (e.approved ? " approved" : " rejected") << (e.text.empty() ? "" : ": " + e.text);
      break;
    case event_type::rolled_back: out << " to seq " << e.to; break;
    case event_type::rerun_requested: out << " -> re-run " << spec[e.rerun].name; break;
    case event_type::context_changed: out << " " << (e.payload ? e.payload->dump() : "{}"); break;
    case event_type::retry_scheduled: out << " in " << e.delay_ms << " ms (at " << format_time(e.at_ms + static_cast<std::int64_t>(e.delay_ms)) << ")"; break;
    case event_type::pipeline_created:
    case event_type::stage_started:
    case event_type::stage_completed:
    case event_type::stage_cancelled:
    case event_type::stage_interrupted:
    case event_type::retry_requested: break;
  }
  return escape_for_terminal(out.str());
}

int history(const inspect_options& opt) {
  auto h = read_history(opt.journal);
  if (!h) return report("history", h.err());
  const pipeline_spec& spec = *h->front().spec;
  for (const event& e : *h) {
    if (opt.as_json) std::cout << encode_event_text(e, &spec) << "\n";
    else std::cout << history_line(e, spec) << "\n";
  }
  return exit_done;
}

}  // namespace

void add_inspect(CLI::App& app, int& exit_status) {
  auto* st = app.add_subcommand("status", "The state now, or right after event SEQ (time travel)");
  auto sopt = std::make_shared<inspect_options>();
  add_journal_options(st, sopt->journal, /*writes=*/false);
  add_server_options(st, sopt->journal);
  st->add_option("--at", sopt->at, "Show the state right after this event (seq)")->check(CLI::PositiveNumber);
  st->add_flag("--json", sopt->as_json, "One JSON object (docs/cli.md#the-state-as-json)");
  st->callback([&exit_status, sopt] { exit_status = status(*sopt); });

  auto* hi = app.add_subcommand("history", "The audit trail: seq, time, who, what");
  auto hopt = std::make_shared<inspect_options>();
  add_journal_options(hi, hopt->journal, /*writes=*/false);
  add_server_options(hi, hopt->journal);
  hi->add_flag("--json", hopt->as_json, "JSON Lines, one event per line (docs/events.md#the-format)");
  hi->callback([&exit_status, hopt] { exit_status = history(*hopt); });
}

}  // namespace dairector::cli
