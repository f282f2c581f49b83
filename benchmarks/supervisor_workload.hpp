// What the supervisor benchmarks (actor_bench, journal_bench, worker_bench)
// share: their actor system settings, the pipeline they loop and its no-op
// workers, a recorded history of it, and process CPU time.
#pragma once

#include <sys/resource.h>

#include <memory>
#include <string>
#include <vector>

#include <dairector/dairector.hpp>

namespace dairector::bench {

/// The benchmarks' actor system: our message types, no console log, and
/// `threads` scheduler threads (0: CAF's default, max(cores, 4)).
inline void configure_bench_system(caf::actor_system_config& cfg, std::size_t threads) {
  actors::register_message_types(cfg);
  cfg.set("logger.console", caf::atom("none"));
  if (threads > 0) cfg.set("scheduler.max-threads", threads);
}

/// Local workers with the non-blocking no-op handler `looping_spec` names.
inline std::shared_ptr<actors::local_workers> noop_workers() {
  auto handlers = std::make_shared<actors::handler_registry>();
  handlers->add("noop", [](const json&) -> result<json> { return json::object(); }, /*blocking=*/false);
  return std::make_shared<actors::local_workers>(handlers, "worker:bench");
}

/// A 6-stage chain of no-op handlers whose last stage fails on purpose
/// `rounds` times, with on_failure re-running the first stage: a pipeline
/// that loops by itself (13 transitions a round) with no driver outside.
inline std::shared_ptr<const pipeline_spec> looping_spec(int rounds) {
  json stages = json::array();
  for (int k = 0; k < 5; ++k) {
    json s = {{"name", "s" + std::to_string(k)}, {"run", {{"handler", "noop"}}}};
    if (k > 0) s["after"] = {"s" + std::to_string(k - 1)};
    stages.push_back(s);
  }
  stages.push_back({{"name", "check"},
                    {"after", {"s4"}},
                    {"run", {{"builtin", "fail"}, {"times", rounds}}},
                    {"on_failure", {{"rerun", "s0"}, {"max_attempts", std::max(rounds, 1)}}}});
  auto spec = parse_spec(json{{"name", "bench"}, {"stages", stages}});
  // Built from constants: a refusal is a bug in this function.
  if (!spec) throw std::logic_error("looping_spec: " + spec.err().message);
  return *spec;
}

/// One pipeline's whole history for `rounds`, recorded through a supervisor
/// on the memory journal; an error if the pipeline did not end done.
inline result<std::vector<event>> record_history(caf::actor_system& sys, int rounds,
                                                 const std::shared_ptr<actors::local_workers>& workers) {
  caf::scoped_actor self{sys};
  auto journal = sys.spawn(actors::memory_journal, actors::memory_journal_events_max);
  actors::supervisor_config sc;
  sc.pipeline = "history";
  sc.spec = looping_spec(rounds);
  sc.journal = journal;
  sc.workers = workers;
  sc.watchers = {caf::actor{self}};
  auto sup = sys.spawn(actors::supervisor, sc);
  pipeline_outcome last = pipeline_outcome::active;
  while (last == pipeline_outcome::active)
    self->receive([&](actors::state_update& u) { last = outcome(u.state); });
  std::vector<event> h;
  self->request(journal, caf::infinite, actors::history_atom::value, std::string("history"))
      .receive([&](std::vector<event>& x) { h = std::move(x); }, [](caf::error&) {});
  self->send(sup, actors::stop_atom::value);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  if (last != pipeline_outcome::done)
    return make_error(errc::refused, std::string("the recorded pipeline ended ") + to_string(last));
  return h;
}

/// Process CPU time (all threads), in seconds: the cost per transition is
/// steadier than wall-clock rates on a shared machine.
inline double process_cpu_s() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

}  // namespace dairector::bench
