// `dairector run SPEC`: create a pipeline and run it to the end in this
// process with local workers (CONTRACT.md §4). On a terminal: a live view and
// a prompt at each confirmation; otherwise plain progress lines.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/actors/supervisor.hpp"
#include "dairector/codec.hpp"
#include "dairector/plan.hpp"

namespace dairector::cli {

namespace {

std::atomic<bool> interrupted{false};
extern "C" void on_sigint(int) { interrupted = true; }

struct run_options {
  std::string spec;
  std::string id;
  bool yes = false;
  bool as_json = false;
  std::size_t command_limit = 8;
};

std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One line per event, for logs and pipes.
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
  return out.str();
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
  std::cout << "? " << message << " [y/n] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return !answer.empty() && (answer[0] == 'y' || answer[0] == 'Y');
}

int finish(const system_state& s, pipeline_outcome o, bool as_json) {
  if (as_json) std::cout << state_to_json(s).dump(2) << "\n";
  switch (o) {
    case pipeline_outcome::done: std::cerr << "pipeline '" << s.pipeline() << "' done (seq " << s.seq() << ")\n"; return exit_done;
    case pipeline_outcome::cancelled: std::cerr << "pipeline '" << s.pipeline() << "' cancelled\n"; return exit_cancelled;
    case pipeline_outcome::waiting:
      std::cerr << "pipeline '" << s.pipeline() << "' is waiting for confirmation: " << s.pending()->message
                << " (no terminal to ask; run with --yes to approve)\n";
      return exit_waiting;
    default: break;
  }
  for (stage_index i = 0; i < s.size(); ++i)
    if (s.status(i) == stage_status::failed)
      std::cerr << "stage '" << s.spec()[i].name << "' failed: "
                << (s.payload(i).error ? *s.payload(i).error : std::string("?")) << "\n";
  std::cerr << "pipeline '" << s.pipeline() << "' failed\n";
  return exit_stage_failed;
}

int run_pipeline(const run_options& opt) {
  auto spec = load_spec(opt.spec);
  if (!spec) {
    std::cerr << "dairector run: " << spec.err().message << "\n";
    return exit_usage;
  }
  const bool tty_in = ::isatty(0), tty_out = ::isatty(1) && !opt.as_json;
  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);

  caf::actor_system_config cfg;
  actors::register_message_types(cfg);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};

  actors::supervisor_config sc;
  sc.pipeline = opt.id.empty() ? (*spec)->name() : opt.id;
  sc.spec = *spec;
  sc.workdir = std::filesystem::absolute(opt.spec).parent_path().string();
  sc.journal = sys.spawn(actors::memory_journal, actors::memory_journal_events_max);
  sc.gate = sys.spawn(actors::command_gate, opt.command_limit);
  sc.watchers = {caf::actor{self}};  // from pipeline_created on: no event goes unseen
  auto sup = sys.spawn(actors::supervisor, sc);
  system_state state;
  std::unordered_map<std::uint64_t, std::int64_t> started;
  live_view view;
  bool cancelling = false, asked = false;
  int code = -1;
  while (code < 0) {
    self->receive(
        [&](actors::state_update& u) {
          state = std::move(u.state);
          if (u.applied.type == event_type::stage_started) started[u.applied.run] = u.applied.at_ms;
          if (tty_out) view.draw(state, started);
          else if (!opt.as_json) std::cout << progress_line(u.applied, state) << std::endl;
        },
        caf::after(std::chrono::milliseconds(100)) >> [&] {
          if (tty_out) view.draw(state, started);
        });
    if (interrupted && !cancelling) {
      cancelling = true;
      std::cerr << "\ncancelling: killing running stages\n";
      self->request(sup, caf::infinite, actors::cancel_atom::value, std::string(), std::string("user:") + (getenv("USER") ? getenv("USER") : "cli"))
          .receive([](actors::reply&) {}, [](caf::error&) {});
    }
    const pipeline_outcome o = outcome(state);
    if (state.pending() && !asked && !cancelling) {
      asked = true;
      const std::string msg = state.pending()->message;
      bool approve = opt.yes;
      if (!opt.yes && tty_in) {
        view.forget();
        approve = ask(msg);
      } else if (!opt.yes) {
        if (o == pipeline_outcome::waiting) code = finish(state, o, opt.as_json);
        asked = false;
        continue;
      }
      self->request(sup, caf::infinite, actors::resolve_atom::value, approve, std::string(opt.yes ? "--yes" : ""),
                    std::string("user:") + (getenv("USER") ? getenv("USER") : "cli"))
          .receive([](actors::reply&) {}, [](caf::error&) {});
    }
    if (!state.pending()) asked = false;
    if (o != pipeline_outcome::active && o != pipeline_outcome::waiting) code = finish(state, o, opt.as_json);
  }
  self->send(sup, actors::stop_atom::value);
  self->send_exit(sc.journal, caf::exit_reason::user_shutdown);
  self->send_exit(sc.gate, caf::exit_reason::user_shutdown);
  return code;
}

}  // namespace

void add_run(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("run", "Create a pipeline and run it to the end with local workers");
  auto opt = std::make_shared<run_options>();
  cmd->add_option("spec", opt->spec, "The pipeline spec (JSON)")->required();
  cmd->add_option("--id", opt->id, "The pipeline id (default: the spec's name)");
  cmd->add_flag("--yes", opt->yes, "Approve every confirmation");
  cmd->add_flag("--json", opt->as_json, "Print the final state as JSON (status --json)");
  cmd->add_option("--command-limit", opt->command_limit, "At most this many stage commands at once")
      ->check(CLI::Range(1, 1024));
  cmd->callback([&exit_status, opt] { exit_status = run_pipeline(*opt); });
}

}  // namespace dairector::cli
