// Embedding Dairector: a pipeline whose stages are C++ functions, run in this
// program's own actor system, printing every state change as it happens.
//
//   ./embed            prints one line per event and exits 0 when done
#include <iostream>

#include <dairector/dairector.hpp>

using namespace dairector;

int main() {
  caf::actor_system_config cfg;
  actors::configure_system(cfg);
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};

  // Stage handlers: the input of docs/protocol.md#the-input in, an output (or error) out.
  auto handlers = std::make_shared<actors::handler_registry>();
  handlers->add("words", [](const json& in) -> result<json> {
    std::string text = in["context"].value("text", "to be or not to be");
    json words = json::array();
    std::string w;
    for (char c : text + " ") {
      if (c == ' ') {
        if (!w.empty()) words.push_back(w);
        w.clear();
      } else {
        w += c;
      }
    }
    return json{{"words", words}};
  });
  handlers->add("count", [](const json& in) -> result<json> {
    return json{{"count", in["inputs"]["split"]["words"].size()}};
  }, /*blocking=*/false);
  handlers->add("unique", [](const json& in) -> result<json> {
    std::set<std::string> u;
    for (const auto& w : in["inputs"]["split"]["words"]) u.insert(w.get<std::string>());
    return json{{"unique", u.size()}};
  }, /*blocking=*/false);
  handlers->add("report", [](const json& in) -> result<json> {
    const json& i = in["inputs"];
    if (i["count"]["count"].get<int>() == 0) return make_error(errc::refused, "nothing to report");
    return json{{"report", std::to_string(i["unique"]["unique"].get<int>()) + " unique of " +
                               std::to_string(i["count"]["count"].get<int>()) + " words"}};
  });

  auto spec = parse_spec_text(R"({"name": "words", "stages": [
    {"name": "split",  "run": {"handler": "words"}},
    {"name": "count",  "after": ["split"], "run": {"handler": "count"}},
    {"name": "unique", "after": ["split"], "run": {"handler": "unique"}},
    {"name": "report", "after": ["count", "unique"], "run": {"handler": "report"}}]})");
  if (!spec) {
    std::cerr << spec.err().message << "\n";
    return 2;
  }

  caf::scoped_actor self{sys};
  actors::supervisor_config sc;
  sc.pipeline = "words-1";
  sc.spec = *spec;
  sc.journal = sys.spawn(actors::memory_journal, actors::memory_journal_events_max);
  sc.workers = std::make_shared<actors::local_workers>(handlers, "worker:embed");
  sc.watchers = {caf::actor{self}};  // every state change, from the first event
  auto sup = actors::spawn_supervisor(sys, sc);

  pipeline_outcome o = pipeline_outcome::active;
  system_state last;
  while (o == pipeline_outcome::active) {
    self->receive([&](actors::state_update& u) {
      last = u.state;
      o = outcome(last);
      std::cout << "seq " << u.applied.seq << " " << to_string(u.applied.type);
      if (u.applied.stage != no_stage) std::cout << " " << last.spec()[u.applied.stage].name;
      std::cout << "  [";
      for (stage_index i = 0; i < last.size(); ++i)
        std::cout << (i ? " " : "") << last.spec()[i].name << ":" << to_string(last.status(i));
      std::cout << "]\n";
    });
  }
  std::cout << "outcome: " << to_string(o) << "\n";
  if (o == pipeline_outcome::done) std::cout << "report: " << last.payload(3).output->dump() << "\n";
  self->send(sup, actors::stop_atom::value);
  self->send_exit(sc.journal, caf::exit_reason::user_shutdown);
  return o == pipeline_outcome::done ? 0 : 1;
}
