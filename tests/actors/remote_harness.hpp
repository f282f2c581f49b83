// Remote workers for the actor tests (registry_test, gate_test): a registry
// with its gate, stand-in worker processes that record jobs and answer when
// told, real endpoints, and the journal's story as lines. Nothing goes over
// the network: every actor is in-process, under the test coordinator.
#pragma once

#include <algorithm>
#include <sstream>

#include "harness.hpp"

#include "dairector/actors/gate.hpp"
#include "dairector/actors/registry.hpp"
#include "dairector/actors/remote_worker.hpp"
#include "dairector/plan.hpp"

namespace dairector::testing {


using answer_atom = caf::atom_constant<caf::atom("tanswer")>;
using relay_atom = caf::atom_constant<caf::atom("trelay")>;

inline const std::string token = "s3cret-token";
inline const std::string worker_secret(64, '5');  // what every worker here registers with

/// What the stand-in worker processes saw, in order.
struct remote_log {
  struct received {
    std::string worker;
    actors::job job;
    caf::actor_addr reply_to;  // weak: the supervisor goes away with the test
  };
  std::vector<received> jobs;
  std::vector<std::string> kills;  // "worker pipeline#run"

  std::size_t jobs_of(const std::string& worker) const {
    return static_cast<std::size_t>(
        std::count_if(jobs.begin(), jobs.end(), [&](const received& r) { return r.worker == worker; }));
  }
  std::vector<std::string> runs() const {  // "worker stage#run", in arrival order
    std::vector<std::string> out;
    for (const auto& r : jobs) out.push_back(r.worker + " " + r.job.stage + "#" + std::to_string(r.job.run));
    return out;
  }
};

/// A worker process as the supervisor sees it: records each job and, on
/// (answer_atom, run, ok, output text, error), sends the result back to the
/// job's sender (the gate) the way a real endpoint does (output as text, no
/// value, the job's capability); on (forge_atom, run, capability) it sends a
/// forged output with that capability instead.
inline caf::behavior stand_in(caf::event_based_actor* self, std::string name, std::shared_ptr<remote_log> log) {
  // A result for its job of `run`, back to whoever sent the job; with the
  // job's own capability unless `capability` is given.
  auto answer = [=](std::uint64_t run, bool ok, const std::string& output, const std::string& error,
                    const std::string* capability) {
    for (const auto& r : log->jobs) {
      if (r.worker != name || r.job.run != run) continue;
      actors::stage_result res;
      res.pipeline = r.job.pipeline;
      res.stage_index = r.job.stage_index;
      res.run = run;
      res.ok = ok;
      res.output = output;
      res.error = error;
      res.worker = name;
      res.capability = capability ? *capability : r.job.capability;
      self->send(caf::actor_cast<caf::actor>(r.reply_to), std::move(res));
      return;
    }
    BOOST_ERROR(name << " has no job for run " << run);
  };
  return {
      [=](actors::job& j) { log->jobs.push_back({name, j, self->current_sender() ? self->current_sender()->address()
                                                                                  : caf::actor_addr{}}); },
      [=](answer_atom, std::uint64_t run, bool ok, const std::string& output, const std::string& error) {
        answer(run, ok, output, error, nullptr);
      },
      [=](forge_atom, std::uint64_t run, const std::string& capability) {
        // The right sender, the right run, an output of its own making.
        answer(run, true, R"({"forged": true})", "", &capability);
      },
      [=](actors::kill_atom, const std::string& secret, const std::string& pipeline, std::uint64_t run) {
        BOOST_CHECK_EQUAL(secret, worker_secret);
        log->kills.push_back(name + " " + pipeline + "#" + std::to_string(run));
      },
      [=](actors::endpoint_server&) {},  // a real endpoint's; a stand-in trusts anyone
  };
}

/// Sends jobs to an endpoint as a supervisor would and keeps what comes back.
inline caf::behavior collector(caf::event_based_actor* self, std::shared_ptr<std::vector<actors::stage_result>> got) {
  return {
      [=](relay_atom, const caf::actor& to, const actors::job& j) { self->send(to, j); },
      [=](relay_atom, const caf::actor& to, actors::kill_atom, const std::string& secret, const std::string& pipeline,
          std::uint64_t run) { self->send(to, actors::kill_atom::value, secret, pipeline, run); },
      [=](actors::stage_result& r) { got->push_back(std::move(r)); },
  };
}

inline const char* one_stage_spec = R"({"name": "t", "stages": [{"name": "a", "run": {"builtin": "echo"}}]})";
// Two independent stages: the driver starts both at once.
inline const char* parallel_spec = R"({"name": "t", "stages": [
  {"name": "a", "run": {"builtin": "echo"}},
  {"name": "c", "run": {"builtin": "echo"}}]})";

struct registry_fixture : fixture {
  caf::actor reg;
  caf::actor gate;
  std::vector<std::string> reg_log;  // registry_config::log lines
  std::shared_ptr<remote_log> remote = std::make_shared<remote_log>();
  std::vector<caf::actor> others;  // stand-ins, probes: stopped at the end
  std::vector<caf::actor> endpoints;  // real endpoints: they ignore exit messages

  ~registry_fixture() {
    for (const auto& a : others) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (const auto& a : endpoints) caf::anon_send(a, actors::endpoint_stop{true});
    if (reg) caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
    if (gate) caf::anon_send(gate, actors::gate_close{});
  }

  /// The registry and its gate (which checks the token); both log to reg_log.
  void start_registry(std::set<std::string> remote_only = {}, std::string tok = token) {
    actors::registry_config rc;
    rc.remote_only = std::move(remote_only);
    rc.log = [this](const std::string& line) { reg_log.push_back(line); };
    reg = sys->spawn(actors::registry, rc);
    gate = sys->spawn(actors::worker_gate, actors::gate_config{std::move(tok), reg, rc.log, {}});
    sched->run();
  }

  /// Like fixture::start, with the registry: local runs go to the manual workers.
  void start_remote(const std::string& spec_text, bool drive = true) {
    registry = reg;
    worker_gate = gate;
    start(spec_text, drive);
  }

  caf::actor spawn_stand_in(const std::string& name) {
    auto a = sys->spawn(stand_in, name, remote);
    others.push_back(a);
    return a;
  }
  caf::actor spawn_endpoint(const std::string& name) {
    actors::endpoint_config ec;
    ec.name = name;
    auto a = sys->spawn(actors::worker_endpoint, ec);
    endpoints.push_back(a);
    return a;
  }

  /// A request answered once everything pending has run.
  template <class R, class... Ts>
  std::optional<R> request_of(const caf::actor& to, Ts... xs) {
    std::optional<R> out;
    auto probe = sys->spawn(
        [&, to](caf::event_based_actor* self, int) {
          self->request(to, caf::infinite, xs...).then([&out](R& r) { out = std::move(r); },
                                                         [](caf::error& e) { BOOST_ERROR(caf::to_string(e)); });
        },
        0);
    sched->run();
    return out;
  }

  /// A registration through the gate, as `dairector worker` makes it: the
  /// endpoint learns the gate and the secret first.
  actors::reply register_worker(const caf::actor& endpoint, std::vector<std::string> stages, std::uint32_t capacity,
                                const std::string& name, const std::string& tok = token) {
    if (endpoint) caf::anon_send(endpoint, actors::endpoint_server{gate, worker_secret});
    auto r = request_of<actors::reply>(gate, actors::register_atom::value, tok, std::move(stages), capacity, name,
                                       endpoint, worker_secret);
    BOOST_REQUIRE(r);
    return *r;
  }
  /// A stand-in registered (and checked so) for `stages`: what most stories start with.
  caf::actor registered_stand_in(const std::string& name, std::vector<std::string> stages, std::uint32_t capacity) {
    auto w = spawn_stand_in(name);
    BOOST_REQUIRE(register_worker(w, std::move(stages), capacity, name).is_ok());
    return w;
  }
  /// The registration only queued at the gate (for stories that step it):
  /// [gate: register -> registry] [registry: registered] [gate: answer].
  void register_queued(const caf::actor& endpoint, std::vector<std::string> stages, std::uint32_t capacity,
                       const std::string& name) {
    caf::anon_send(gate, actors::register_atom::value, token, std::move(stages), capacity, name, endpoint,
                   worker_secret);
  }

  /// The stand-in `w` sends its result for `run`; the gate passes it on (if
  /// it is the run's): it is queued at the supervisor.
  void answers(const caf::actor& w, std::uint64_t run, bool ok = true, std::string output = R"({"k": 1})",
               std::string error = {}) {
    caf::anon_send(w, answer_atom::value, run, ok, std::move(output), std::move(error));
    step(w);
    step(gate);
  }

  const actors::registry_state& reg_state() const {
    return dynamic_cast<actors::registry_actor&>(*caf::actor_cast<caf::abstract_actor*>(reg)).state;
  }
  std::uint32_t busy(const caf::actor& w) const {
    for (const auto& r : reg_state().workers)
      if (r.endpoint == w) return r.busy;
    BOOST_ERROR("the registry does not know that worker");
    return 999;
  }
  bool registered(const caf::actor& w) const {
    const auto& ws = reg_state().workers;
    return std::any_of(ws.begin(), ws.end(), [&](const actors::registered_worker& r) { return r.endpoint == w; });
  }
  const actors::live_run* live(std::uint64_t run) const {
    for (const auto& [id, r] : const_cast<actors::supervisor_state&>(st()).runs)
      if (id == run) return &r;
    return nullptr;
  }
  std::uint64_t run_of(const std::string& stage) const { return state().stage(idx(stage)).run; }

  /// The journal's history as lines: "type stage#run by who [text]".
  std::vector<std::string> story() {
    std::vector<std::string> out;
    for (const auto& e : durable()) {
      std::ostringstream os;
      os << to_string(e.type);
      if (e.stage != no_stage) os << ' ' << state().spec()[e.stage].name << '#' << e.run;
      os << " by " << e.by;
      if (e.type == event_type::result_discarded || e.type == event_type::stage_failed) os << " [" << e.text << ']';
      out.push_back(os.str());
    }
    return out;
  }
  bool logged(const std::string& part) const {
    return std::any_of(reg_log.begin(), reg_log.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
  }
};

#define CHECK_LINES(actual, ...)                                                 \
  do {                                                                           \
    const std::vector<std::string> expected_{__VA_ARGS__};                       \
    const auto actual_ = (actual);                                               \
    BOOST_CHECK_EQUAL_COLLECTIONS(actual_.begin(), actual_.end(), expected_.begin(), expected_.end()); \
  } while (false)

}  // namespace dairector::testing
