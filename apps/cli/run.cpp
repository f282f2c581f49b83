// `dairector run SPEC` and `dairector resume`: run a pipeline to the end in
// this process with local workers and the durable journal (docs/cli.md).
// `run` creates it; `resume` folds the journal back into state and carries on
// (rule 8). On a terminal: a live view and a prompt at each confirmation;
// otherwise plain progress lines.
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/clean_stop.hpp"
#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/log_files.hpp"
#include "cli/server_client.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/actors/process.hpp"
#include "dairector/actors/supervisor.hpp"
#include "dairector/codec.hpp"
#include "dairector/file_read.hpp"
#include "dairector/json_bounds.hpp"
#include "dairector/journal/solo_lease.hpp"
#include "dairector/plan.hpp"
#include "dairector/reducer.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

struct run_options {
  std::string spec;  // run only
  std::string input;        // run only: --input JSON or @FILE
  bool input_given = false;
  journal_args journal;
  log_args logs;  // stage logs (docs/cli.md#logs)
  bool yes = false;
  bool as_json = false;
  std::size_t command_limit = 8;
};

// --input JSON or @FILE: the pipeline's input (docs/protocol.md#the-input),
// through the one parser for JSON from outside and the bounds of a value.
// Null is no input. A sentence naming the option or the file, else.
result<std::shared_ptr<const json>> input_value(const run_options& opt) {
  if (!opt.input_given) return std::shared_ptr<const json>();
  std::string text = opt.input;
  std::string what = "--input";
  if (!text.empty() && text[0] == '@') {
    const std::string path = text.substr(1);
    auto contents = read_file(path, json_value_bytes_max, "the --input file", errc::decode_failed);
    if (!contents) return contents.err();
    text = std::move(*contents);
    what = "the --input file " + path;
  }
  auto value = parse_json(text, what, value_limits);
  if (!value) return value.err();
  if (auto why = value_refusal(*value, what)) return make_error(errc::decode_failed, *why);
  if (value->is_null()) return std::shared_ptr<const json>();
  return std::make_shared<const json>(std::move(*value));
}

// One line per event, for logs and pipes; escaped as a whole (an error
// quotes a command's stderr, `by` comes from a client).
std::string progress_line(const event& e, const system_state& s) {
  std::ostringstream out;
  out << "#" << std::left << std::setw(4) << e.seq << " " << format_time(e.at_ms).substr(11, 12) << "  ";
  std::string stage = e.stage != no_stage ? s.spec()[e.stage].name : "-";
  out << std::setw(10) << stage << " " << to_string(e.type);
  if (e.run) out << " run " << e.run;
  if (e.type == event_type::stage_started) out << " attempt " << s.stage(e.stage).attempt;
  if (e.type == event_type::stage_failed) out << ": " << e.text;
  if (e.type == event_type::confirmation_requested) out << ": " << e.text;
  if (e.type == event_type::confirmation_resolved) out << (e.approved ? " approved" : " rejected") << " by " << e.by;
  if (e.type == event_type::rerun_requested) out << " -> re-run " << s.spec()[e.rerun].name;
  return escape_for_terminal(out.str());
}

// The live view: one line per stage, redrawn in place.
class live_view {
public:
  void draw(const system_state& s, const std::unordered_map<std::uint64_t, std::int64_t>& started) {
    std::ostringstream out;
    if (lines_ > 0) out << "\x1b[" << lines_ << "A";
    const std::int64_t now = wall_ms();
    for (stage_index i = 0; i < s.size(); ++i) {
      const stage_state& st = s.stage(i);
      out << "\x1b[2K  " << std::left << std::setw(12) << s.spec()[i].name << std::setw(11) << to_string(s.status(i));
      if (st.run) out << "run " << std::setw(6) << st.run;
      else out << std::setw(10) << "";
      if (st.stored == run_status::running) {
        auto it = started.find(st.run);
        if (it != started.end()) out << std::fixed << std::setprecision(1) << double(now - it->second) / 1000 << " s";
      }
      out << "\n";
    }
    lines_ = static_cast<int>(s.size());
    std::cout << out.str() << std::flush;
  }
  void forget() { lines_ = 0; }

private:
  int lines_ = 0;
};

bool ask(const std::string& message) {
  std::cout << "? " << escape_for_terminal(message) << " [y/n] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return !answer.empty() && (answer[0] == 'y' || answer[0] == 'Y');
}

int finish(const system_state& s, pipeline_outcome o, bool as_json) {
  if (as_json) std::cout << state_to_json(s).dump(2) << "\n";
  const std::string pipeline = "pipeline '" + escape_for_terminal(s.pipeline()) + "'";
  switch (o) {
    case pipeline_outcome::done: std::cerr << pipeline << " done (seq " << s.seq() << ")\n"; return exit_done;
    case pipeline_outcome::cancelled: std::cerr << pipeline << " cancelled\n"; return exit_cancelled;
    case pipeline_outcome::waiting:
      std::cerr << pipeline << " is waiting for confirmation: " << escape_for_terminal(s.pending()->message)
                << " (no terminal to ask; run with --yes to approve)\n";
      return exit_waiting;
    default: break;
  }
  for (stage_index i = 0; i < s.size(); ++i)
    if (s.status(i) == stage_status::failed)
      std::cerr << "stage '" << s.spec()[i].name << "' failed: "
                << escape_for_terminal(s.payload(i).error ? *s.payload(i).error : std::string("?")) << "\n";
  std::cerr << pipeline << " failed\n";
  return exit_stage_failed;
}

// What a run does after each event, in this process or on a server: answer
// a pending confirmation once (--yes, or ask on a terminal; `resolve` sends
// the answer) and say when the run is over: its exit code, else -1. Without
// --yes and a terminal, a pipeline that can only wait ends with exit 4.
class confirmations {
public:
  confirmations(const run_options& opt, bool tty_in) : opt_(opt), tty_in_(tty_in) {}

  int after(const system_state& s, bool cancelling, const std::function<void(bool approve)>& resolve,
            const std::function<void()>& before_asking = {}) {
    const pipeline_outcome o = outcome(s);
    if (s.pending() && !asked_ && !cancelling) {
      if (!opt_.yes && !tty_in_) return o == pipeline_outcome::waiting ? finish(s, o, opt_.as_json) : -1;
      asked_ = true;
      if (!opt_.yes && before_asking) before_asking();
      resolve(opt_.yes || ask(s.pending()->message));
    }
    if (!s.pending()) asked_ = false;
    if (o != pipeline_outcome::active && o != pipeline_outcome::waiting) return finish(s, o, opt_.as_json);
    return -1;
  }

private:
  const run_options& opt_;
  const bool tty_in_;
  bool asked_ = false;  // the pending confirmation was answered
};

// Runs the pipeline to an end: done, failed, cancelled, waiting without a
// terminal, or a journal failure. `recovered` is set by resume.
int drive_to_end(const run_options& opt, std::shared_ptr<journal_store> store, const std::string& id,
                 std::shared_ptr<const pipeline_spec> spec, const std::string& workdir,
                 std::optional<system_state> recovered, std::shared_ptr<const json> input = nullptr) {
  const bool tty_in = ::isatty(0), tty_out = ::isatty(1) && !opt.as_json;
  actors::hold_in_runs(store->owner_lock_fd());  // the next owner waits for our commands
  catch_stop_signals();

  caf::actor_system_config cfg;
  actors::configure_system(cfg);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  actors::supervisor_config sc;
  sc.pipeline = id;
  sc.spec = std::move(spec);
  sc.input = std::move(input);
  sc.workdir = workdir;
  sc.by = "system";
  // The journal on the scheduler, its committer on a thread of its own (docs/design.md#the-journal).
  sc.journal = actors::spawn_durable_journal(sys, std::move(store));
  sc.gate = sys.spawn(actors::command_gate, opt.command_limit);
  auto logs = start_log_writer(sys, opt.logs, opt.journal.journal_path(), [](const std::string& line) {
    std::cerr << "dairector: " << escape_for_terminal(line) << "\n";
  });
  if (!logs) return report(opt.spec.empty() ? "resume" : "run", logs.err());
  sc.workers = std::make_shared<actors::local_workers>(nullptr, "worker:local", actors::stage_log_sink{*logs, false});
  sc.watchers = {caf::actor{self}};  // from the first event on: no event goes unseen
  system_state state;
  if (recovered) state = *recovered;
  sc.recovered = std::move(recovered);
  auto sup = actors::spawn_supervisor(sys, sc);
  std::unordered_map<std::uint64_t, std::int64_t> started;
  live_view view;
  bool cancelling = false;
  confirmations confirm(opt, tty_in);
  const std::string by = opt.journal.who();
  int code = -1;
  if (!state.empty() && !tty_out && !opt.as_json)
    std::cout << "resuming pipeline '" << escape_for_terminal(state.pipeline()) << "' at seq " << state.seq() << std::endl;
  while (code < 0) {
    self->receive(
        [&](actors::state_update& u) {
          state = std::move(u.state);
          if (u.applied.type == event_type::stage_started) started[u.applied.run] = u.applied.at_ms;
          if (tty_out) view.draw(state, started);
          else if (!opt.as_json) std::cout << progress_line(u.applied, state) << std::endl;
        },
        [&](actors::journal_failed_atom, const std::string& why) {
          std::cerr << "dairector: " << escape_for_terminal(why) << "\nnothing unacknowledged was applied; run `dairector resume` "
                    << "once the journal can be written again\n";
          code = exit_journal;
        },
        caf::after(std::chrono::milliseconds(100)) >> [&] {
          if (tty_out) view.draw(state, started);
        });
    if (code >= 0) break;
    if (stop_requested() && !cancelling) {
      cancelling = true;
      std::cerr << "\ncancelling: killing running stages\n";
      self->request(sup, caf::infinite, actors::cancel_atom::value, std::string(), by)
          .receive([](actors::reply&) {}, [](caf::error&) {});
    }
    if (state.empty()) continue;
    auto resolve = [&](bool approve) {
      self->request(sup, caf::infinite, actors::resolve_atom::value, approve, std::string(opt.yes ? "--yes" : ""), by)
          .receive([](actors::reply&) {}, [](caf::error&) {});
    };
    code = confirm.after(state, cancelling, resolve, [&] { view.forget(); });
  }
  code = stop_then_sync(self, sup, sc.journal, code, opt.spec.empty() ? "resume" : "run");
  self->send_exit(sc.gate, caf::exit_reason::user_shutdown);
  self->send_exit(*logs, caf::exit_reason::user_shutdown);  // after every run's last chunk
  return code;
}

// The spec and the input of `run`, or the exit code of a usage error.
struct run_request {
  std::shared_ptr<const pipeline_spec> spec;
  std::shared_ptr<const json> input;
};
result<run_request> load_request(const run_options& opt) {
  auto spec = load_spec(opt.spec);
  if (!spec) return spec.err();
  auto input = input_value(opt);
  if (!input) return input.err();
  return run_request{std::move(*spec), std::move(*input)};
}

int run_pipeline(const run_options& opt) {
  auto request = load_request(opt);
  if (!request) {
    std::cerr << "dairector run: " << escape_for_terminal(request.err().message) << "\n";
    return exit_usage;
  }
  auto* spec = &request->spec;
  const std::string id = opt.journal.id.empty() ? (*spec)->name() : opt.journal.id;
  const std::string where = opt.journal.journal_path();
  const std::string node = is_postgresql_uri(where) ? solo_lease::node_name() : std::string();
  journal_options jopt = opt.journal.options(false, node);
  jopt.answer_timeout_ms = 2 * lease_ms_default;  // as serve's (docs/cluster.md#faults)
  auto store = open_journal(where, jopt);
  if (!store) return report("run", store.err());
  // On a shared journal: a lease, ended (after the last commit) when this
  // function returns.
  auto lease = solo_lease::take(where, lease_ms_default);
  if (!lease) return report("run", lease.err());
  auto existing = (*store)->pipelines();
  if (!existing) return report("run", existing.err());
  for (const auto& p : *existing)
    if (p.id == id) {
      std::cerr << "dairector run: journal " << (*store)->path() << " already has pipeline '" << id << "' (seq "
                << p.seq << "): `dairector resume --id " << id << "` carries it on; `--id` names a new one\n";
      return exit_usage;
    }
  const std::string workdir = std::filesystem::absolute(opt.spec).parent_path().string();
  if (auto err = (*store)->put_meta(workdir_key(id), workdir)) return report("run", *err);
  return drive_to_end(opt, std::shared_ptr<journal_store>(std::move(*store)), id, *spec, workdir, std::nullopt,
                      request->input);
}

// `run SPEC --server URL`: the server runs the pipeline (its workers, its
// journal, its --workdir); this process creates it, follows its durable
// events, answers confirmations and ends with the same exit code as a local run.
int run_on_server(const run_options& opt, const std::string& url) {
  auto request = load_request(opt);
  if (!request) {
    std::cerr << "dairector run: " << escape_for_terminal(request.err().message) << "\n";
    return exit_usage;
  }
  auto* spec = &request->spec;
  auto server = server_client::open(url, opt.journal.token_file);
  if (!server) return report("run", server.err());
  const std::string id = opt.journal.id.empty() ? (*spec)->name() : opt.journal.id;
  const std::string by = opt.journal.who();
  json body = {{"spec", (*spec)->to_json()}, {"id", id}, {"by", by}};
  if (request->input) body["input"] = *request->input;
  if (auto created = server->post("/pipelines", body); !created) return report("run", created.err());
  catch_stop_signals();
  system_state state;
  bool cancelling = false;
  confirmations confirm(opt, ::isatty(0));
  int code = -1;
  // Requests made while the stream is open go over their own connection.
  auto control = server_client::open(url, opt.journal.token_file);
  if (!control) return report("run", control.err());
  auto post = [&](const std::string& what, const json& b) {
    if (auto r = control->post(pipeline_path(id) + what, b); !r) code = report("run", r.err());
  };
  auto check_signal = [&] {
    if (stop_requested() && !cancelling) {
      cancelling = true;
      std::cerr << "\ncancelling: the server kills the running stages\n";
      // Refused only when nothing runs any more: the stream then shows how it ended.
      (void)control->post(pipeline_path(id) + "/cancel", {{"by", by}});
    }
    return code < 0;
  };
  auto on_event = [&](const event& e) {
    if (auto err = apply_in_place(state, e)) {
      code = report("run", make_error(errc::journal, "the server's history does not apply: " + err->message));
      return false;
    }
    if (!opt.as_json) std::cout << progress_line(e, state) << std::endl;
    auto resolve = [&](bool approve) {
      post(approve ? "/confirm" : "/reject", {{"by", by}, {"note", opt.yes ? "--yes" : ""}});
    };
    if (const int end = confirm.after(state, cancelling, resolve); code < 0) code = end;
    return check_signal();
  };
  if (auto err = server->follow(id, on_event, check_signal); err && code < 0) return report("run", *err);
  return code < 0 ? exit_journal : code;
}

int resume_pipeline(const run_options& opt) {
  const std::string where = opt.journal.journal_path();
  const std::string node = is_postgresql_uri(where) ? solo_lease::node_name() : std::string();
  journal_options jopt = opt.journal.options(false, node);
  jopt.answer_timeout_ms = 2 * lease_ms_default;  // as serve's (docs/cluster.md#faults)
  auto store = open_journal(where, jopt);
  if (!store) return report("resume", store.err());
  auto lease = solo_lease::take(where, lease_ms_default);
  if (!lease) return report("resume", lease.err());
  auto id = pick_pipeline(**store, opt.journal.id);
  if (!id) return report("resume", id.err());
  // A shared journal: this process becomes the pipeline's owner before it
  // reads the history (nothing a former owner writes lands after that), and
  // is refused while a live server or process owns it. SQLite's lock file
  // already made it the only writer.
  if (auto epoch = (*store)->own(*id); !epoch) return report("resume", epoch.err());
  auto p = recover_pipeline(**store, *id, std::filesystem::current_path().string());
  if (!p) return report("resume", p.err());
  auto spec = p->state.spec_ptr();
  return drive_to_end(opt, std::shared_ptr<journal_store>(std::move(*store)), *id, std::move(spec), p->workdir,
                      std::move(p->state));
}

}  // namespace

namespace {

// What run and resume share on the command line.
void add_drive_options(CLI::App* cmd, run_options& opt) {
  add_journal_options(cmd, opt.journal, /*writes=*/true);
  add_log_options(cmd, opt.logs, /*writes=*/true);
  cmd->add_flag("--yes", opt.yes, "Approve every confirmation");
  cmd->add_flag("--json", opt.as_json, "Print the final state as JSON (status --json)");
  cmd->add_option("--command-limit", opt.command_limit, "At most this many stage commands at once")
      ->check(CLI::Range(1, 1024));
}

}  // namespace

void add_run(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("run", "Create a pipeline and run it to the end with local workers");
  auto opt = std::make_shared<run_options>();
  cmd->add_option("spec", opt->spec, "The pipeline spec (JSON)")->required();
  auto* input = cmd->add_option("--input", opt->input,
                                "The pipeline's input, given to every stage as \"input\": JSON, or @FILE to read it");
  add_drive_options(cmd, *opt);
  add_server_options(cmd, opt->journal);
  cmd->callback([&exit_status, opt, input] {
    opt->input_given = input->count() > 0;
    const std::string url = opt->journal.server_url();
    exit_status = url.empty() ? run_pipeline(*opt) : run_on_server(*opt, url);
  });

  auto* res = app.add_subcommand("resume", "Recover a pipeline from the journal and carry it on to the end");
  auto ropt = std::make_shared<run_options>();
  add_drive_options(res, *ropt);
  res->callback([&exit_status, ropt] { exit_status = resume_pipeline(*ropt); });
}

}  // namespace dairector::cli
