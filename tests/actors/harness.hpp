// A deterministic harness for supervisor tests: CAF's test coordinator runs
// one message at a time, and "manual" workers hold each job until the test
// says how it ends. No sleeps, no threads.
#pragma once

#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include "dairector/actors/journal.hpp"
#include "dairector/actors/supervisor.hpp"
#include "supervisor_state.hpp"  // actors/src: inspect_supervisor, for tests only
#include "dairector/invariants.hpp"
#include "dairector/reducer.hpp"

namespace dairector {
inline std::ostream& operator<<(std::ostream& os, stage_status s) { return os << to_string(s); }
}  // namespace dairector

namespace dairector::testing {

using deliver_atom = caf::atom_constant<caf::atom("tdeliver")>;
using forge_atom = caf::atom_constant<caf::atom("tforge")>;

/// Jobs the manual workers received, in order.
struct job_log {
  std::vector<actors::job> jobs;
  std::vector<caf::actor_addr> workers;  // the worker that got each job (weak: workers
                                         // must go away with their supervisor)
};

/// Spawns a worker per run that records its job and, on (deliver_atom,
/// result), sends the result to the supervisor as the real worker would; on
/// (forge_atom, result) it sends that result and stays (the right sender, a
/// result of anyone's making).
class manual_workers : public actors::worker_factory {
public:
  explicit manual_workers(std::shared_ptr<job_log> log) : log_(std::move(log)) {}
  bool reusable(const run_spec&) const override { return false; }
  caf::actor spawn(caf::local_actor* sup, const run_spec&) override {
    auto log = log_;
    auto to = caf::actor_cast<caf::actor>(sup);
    // One (unused) argument: CAF 0.17 trips UBSan spawning a function actor with none.
    return sup->spawn([log, to](caf::event_based_actor* self, int) -> caf::behavior {
      return {
          [=](const actors::job& j) {
            log->jobs.push_back(j);
            log->workers.push_back(self->address());
          },
          [=](deliver_atom, actors::stage_result& r) {
            self->send(to, std::move(r));
            self->quit();
          },
          [=](forge_atom, actors::stage_result& r) { self->send(to, std::move(r)); },
      };
    }, 0);
  }

private:
  std::shared_ptr<job_log> log_;
};

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  std::shared_ptr<job_log> log = std::make_shared<job_log>();
  caf::actor journal;
  caf::actor sup;
  std::vector<caf::actor> watchers;           // given to the supervisor by start()
  std::optional<system_state> recovered;      // likewise
  caf::actor registry;                        // likewise (remote workers; registry_test)
  caf::actor worker_gate;                     // likewise (how jobs reach them; gate.hpp)
  std::int64_t clock = 1'700'000'000'000;
  std::vector<std::string> sup_log;           // supervisor_config::log lines
  std::uint64_t seed = 0x5EED;                // pipeline_created's seed (retry jitter)

  fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.console", caf::atom("none"));
    actors::register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    journal = sys->spawn(actors::memory_journal, actors::memory_journal_events_max);
  }
  ~fixture() {
    if (sup) caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
    sched->run();
  }

  void start(const std::string& spec_text, bool drive = true) {
    auto spec = parse_spec_text(spec_text);
    BOOST_REQUIRE_MESSAGE(spec.ok(), (spec.ok() ? "" : spec.err().message));
    actors::supervisor_config sc;
    sc.pipeline = "p-1";
    sc.spec = *spec;
    sc.journal = journal;
    sc.workers = std::make_shared<manual_workers>(log);
    sc.clock_ms = [this] { return ++clock; };
    sc.drive = drive;
    sc.watchers = watchers;
    sc.recovered = recovered;
    sc.registry = registry;
    sc.worker_gate = worker_gate;
    sc.log = [this](const std::string& line) { sup_log.push_back(line); };
    sc.seed = seed;              // the same run gives the same history (explorer replays a seed)
    sc.check_invariants = true;  // every event the supervisor applies, not only those a test looks at
    sup = actors::spawn_supervisor(*sys, sc);
  }

  const actors::supervisor_state& st() const { return actors::inspect_supervisor(sup); }
  const system_state& state() const { return st().state; }
  stage_index idx(const std::string& name) const { return state().spec().find(name); }

  /// Runs every pending message and timer, then checks the invariants.
  void settle() {
    sched->run();
    while (sched->trigger_timeouts() > 0) sched->run();  // e.g. the journal's delayed flush of starts
    check();
  }
  void check() const {
    auto v = check_invariants(state());
    for (const auto& s : v) BOOST_ERROR("invariant: " << s);
  }
  /// Runs exactly one message of actor `a`.
  void step(const caf::actor& a) {
    BOOST_REQUIRE(sched->prioritize(a));
    sched->run_once();
    check();
  }
  /// The manual worker holding run `run`.
  caf::actor worker_of(std::uint64_t run) const {
    for (std::size_t k = 0; k < log->jobs.size(); ++k)
      if (log->jobs[k].run == run) return caf::actor_cast<caf::actor>(log->workers[k]);
    BOOST_FAIL("no worker has run " << run);
    return {};
  }
  /// Tells the worker of `run` to send its result (queued at the supervisor
  /// once the worker runs), with the job's capability unless `capability` says otherwise.
  void worker_sends(std::uint64_t run, bool ok, json output = json::object(), std::string error = {},
                    std::optional<std::string> capability = std::nullopt) {
    actors::stage_result r;
    r.pipeline = "p-1";
    r.run = run;
    for (const auto& j : log->jobs)
      if (j.run == run) r.stage_index = j.stage_index, r.capability = j.capability;
    if (capability) r.capability = *capability;
    r.ok = ok;
    r.output_value = std::make_shared<const json>(std::move(output));
    r.error = std::move(error);
    r.worker = "worker:test";
    auto w = worker_of(run);
    caf::anon_send(w, deliver_atom::value, std::move(r));
    step(w);
  }
  /// A request from outside (a client) to `to`, sent now. The answer (a
  /// reply or an error) is filled in whenever it comes; empty until then.
  std::shared_ptr<caf::message> send_request(const caf::actor& to, caf::message request) {
    auto out = std::make_shared<caf::message>();
    sys->spawn([out, to, request](caf::event_based_actor* self, int) {
      self->request(to, caf::infinite, request)
          .then([out](actors::reply& r) { *out = caf::make_message(r); },
                [out](caf::error& e) { *out = caf::make_message(e); });
    }, 0);
    return out;
  }
  /// A request from outside, answered after every pending message ran (empty
  /// if no answer came by then: the journal has not confirmed it).
  template <class... Ts>
  caf::message ask(Ts&&... xs) {
    auto out = send_request(sup, caf::make_message(std::forward<Ts>(xs)...));
    sched->run();
    check();
    return *out;
  }
  /// The journal's events for the pipeline (what is durable).
  std::vector<event> durable() {
    std::vector<event> out;
    auto probe = sys->spawn([&](caf::event_based_actor* self, int) {
      self->request(journal, caf::infinite, actors::history_atom::value, std::string("p-1"))
          .then([&out](std::vector<event>& h) { out = std::move(h); });
    }, 0);
    sched->run();
    return out;
  }
  /// The event types in order (to name the history a test forced).
  static std::vector<event_type> types(const std::vector<event>& h) {
    std::vector<event_type> out;
    for (const auto& e : h) out.push_back(e.type);
    return out;
  }
};

inline const char* two_stage_spec = R"({"name": "t", "stages": [
  {"name": "a", "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]})";

}  // namespace dairector::testing
