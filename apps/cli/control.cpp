// `invalidate`, `confirm`, `reject`, `cancel`, `rollback`, `retry`
// (docs/cli.md) on a journal no process owns: take the owner lock, replay,
// turn the request into one event with the core's event_for (request.hpp:
// the supervisor's own), and append it durably. The
// lock makes this process the pipeline's only writer for that moment (rule
// 1); when another process owns the journal the command says so (exit 5):
// live control goes through `serve`. History is only ever appended to (rule 9).
// With `--server URL` the same request goes to a running `dairector serve`
// (docs/http.md), whose supervisor checks and applies it.
#include <iostream>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/server_client.hpp"
#include "dairector/codec.hpp"
#include "dairector/json_bounds.hpp"
#include "dairector/reducer.hpp"
#include "dairector/request.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

enum class verb { invalidate, confirm, reject, cancel, rollback, retry };

struct control_options {
  journal_args journal;
  std::string stage;
  std::string context;  // invalidate: JSON; empty = keep the stage's context
  std::string note;
  std::uint64_t to = 0;
};

// --context as a value: the one parser for JSON from outside (no key twice)
// and the bounds of a value, as the server holds a context to.
result<json> context_value(const std::string& text) {
  auto value = parse_json(text, "--context", value_limits);
  if (!value) return value.err();
  if (auto why = value_refusal(*value, "--context")) return make_error(errc::decode_failed, *why);
  return value;
}

const char* name_of(verb v) {
  switch (v) {
    case verb::invalidate: return "invalidate";
    case verb::confirm: return "confirm";
    case verb::reject: return "reject";
    case verb::cancel: return "cancel";
    case verb::rollback: return "rollback";
    case verb::retry: return "retry";
  }
  return "?";
}

// The request as the core sees it (request.hpp): its event_for turns it into
// the event, or refuses it, exactly as the server's supervisor would.
result<request> core_request(verb v, const control_options& opt) {
  request r;
  r.by = opt.journal.who();
  r.stage = opt.stage;
  r.note = opt.note;
  r.to = opt.to;
  switch (v) {
    case verb::invalidate: r.what = request::kind::context; break;
    case verb::confirm: r.what = request::kind::confirm; break;
    case verb::reject: r.what = request::kind::reject; break;
    case verb::cancel: r.what = request::kind::cancel; break;
    case verb::rollback: r.what = request::kind::rollback; break;
    case verb::retry: r.what = request::kind::retry; break;
  }
  if (v == verb::invalidate && !opt.context.empty()) {
    auto value = context_value(opt.context);
    if (!value) return value.err();
    r.context = std::make_shared<const json>(std::move(*value));
  }
  return r;
}

// The request as an HTTP call: the path under /pipelines/ID, the body, and
// the type of the event it appends.
struct server_request {
  std::string path;
  json body;
  event_type type;
};

result<server_request> make_server_request(verb v, const control_options& opt) {
  server_request r{"", json{{"by", opt.journal.who()}}, event_type::stage_cancelled};
  switch (v) {
    case verb::invalidate:
      r.path = "/stages/" + path_segment(opt.stage) + "/context";
      r.type = event_type::context_changed;
      if (!opt.context.empty()) {  // else the server keeps the stage's context, as below
        auto value = context_value(opt.context);
        if (!value) return value.err();
        r.body["context"] = std::move(*value);
      }
      break;
    case verb::confirm:
    case verb::reject:
      r.path = v == verb::confirm ? "/confirm" : "/reject";
      r.type = event_type::confirmation_resolved;
      if (!opt.note.empty()) r.body["note"] = opt.note;
      break;
    case verb::cancel:
      r.path = "/cancel";
      if (!opt.stage.empty()) r.body["stage"] = opt.stage;
      break;
    case verb::rollback:
      r.path = "/rollback";
      r.type = event_type::rolled_back;
      if (opt.to < 1) return make_error(errc::refused, "cannot roll back to seq 0: it must be 1 or more");
      r.body["to"] = opt.to;
      break;
    case verb::retry:
      r.path = "/stages/" + path_segment(opt.stage) + "/retry";
      r.type = event_type::retry_requested;
      break;
  }
  return r;
}

int control_on_server(verb v, const control_options& opt, const std::string& url) {
  const char* command = name_of(v);
  auto server = server_client::open(url, opt.journal.token_file);
  if (!server) return report(command, server.err());
  auto id = server->pick_pipeline(opt.journal.id);
  if (!id) return report(command, id.err());
  auto request = make_server_request(v, opt);
  if (!request) return report(command, request.err());
  auto state = server->post(pipeline_path(*id) + request->path, request->body);
  if (!state) return report(command, state.err());
  // The answer is the state after the request (and whatever the supervisor
  // started next); the event's own seq is the last of its type by us.
  std::uint64_t seq = state->value("seq", std::uint64_t{0});
  if (auto history = server->get(pipeline_path(*id) + "/history"); history && history->is_array()) {
    const std::string type = to_string(request->type), by = opt.journal.who();
    for (auto it = history->rbegin(); it != history->rend(); ++it)
      if (it->is_object() && it->value("type", "") == type && it->value("by", "") == by) {
        seq = it->value("seq", seq);
        break;
      }
  }
  std::cout << "seq " << seq << ": " << to_string(request->type) << " (pipeline '" << escape_for_terminal(*id)
            << "'); the server carries the pipeline on\n";
  return exit_done;
}

int control(verb v, const control_options& opt) {
  const char* command = name_of(v);
  if (const std::string url = opt.journal.server_url(); !url.empty()) return control_on_server(v, opt, url);
  auto store = open_journal(opt.journal.journal_path(), opt.journal.options(false));
  if (!store) {
    std::cerr << "dairector " << command << ": " << escape_for_terminal(store.err().message) << "\n";
    if (store.err().code == errc::owned)
      std::cerr << "(a running pipeline is controlled through `dairector serve`, not through its journal)\n";
    return exit_for(store.err());
  }
  auto id = pick_pipeline(**store, opt.journal.id);
  if (!id) return report(command, id.err());
  auto history = (*store)->history(*id);
  if (!history) return report(command, history.err());
  auto state = replay(*history);
  if (!state) return report(command, state.err());
  auto r = core_request(v, opt);
  if (!r) return report(command, r.err());
  auto e = event_for(*state, *r, wall_ms(), *history);
  if (!e) return report(command, e.err());
  if (auto err = (*store)->append(std::span<const event>(&*e, 1))) return report(command, *err);
  std::cout << "seq " << e->seq << ": " << to_string(e->type) << " (pipeline '" << escape_for_terminal(*id)
            << "'); `dairector resume` "
            << "carries the pipeline on\n";
  return exit_done;
}

}  // namespace

void add_control(CLI::App& app, int& exit_status) {
  auto add = [&](verb v, const char* help) {
    auto* cmd = app.add_subcommand(name_of(v), help);
    auto opt = std::make_shared<control_options>();
    add_journal_options(cmd, opt->journal, /*writes=*/true);
    add_server_options(cmd, opt->journal);
    switch (v) {
      case verb::invalidate:
        cmd->add_option("stage", opt->stage, "The stage whose context changed")->required();
        cmd->add_option("--context", opt->context, "Its new context (JSON); default: keep it");
        break;
      case verb::confirm:
      case verb::reject:
        cmd->add_option("--note", opt->note, "Why (recorded in the journal)")->check(plain_text(note_bytes_max));
        break;
      case verb::cancel: cmd->add_option("stage", opt->stage, "The stage to cancel (default: the whole pipeline)"); break;
      case verb::rollback:
        cmd->add_option("--to", opt->to, "Return to the state right after this event (seq)")->required();
        break;
      case verb::retry:
        cmd->add_option("stage", opt->stage, "The failed or cancelled stage to run again")->required();
        break;
    }
    cmd->callback([&exit_status, v, opt] { exit_status = control(v, *opt); });
  };
  add(verb::invalidate, "Context change on STAGE: every stage downstream of it becomes outdated");
  add(verb::confirm, "Approve the pending confirmation");
  add(verb::reject, "Reject the pending confirmation (its stage becomes outdated and runs again)");
  add(verb::cancel, "Cancel one running stage, or the whole pipeline");
  add(verb::rollback, "Append an event that returns the pipeline to its state after SEQ");
  add(verb::retry,
      "Retry a failed or cancelled STAGE: it and every failed or cancelled stage downstream become startable again");
}

}  // namespace dairector::cli
