// The worker port's own checks (gate.hpp, secret.hpp), for a peer that did
// authenticate: a result counts only with its run's capability, whatever its
// sender (remote runs and runs inside the server); the registry takes only
// local-only types; the gate drops what it does not take and outlives exit
// messages; a worker's endpoint takes jobs only from its gate with its
// secret. Deterministic: each story names the interleaving it forces.
// (network_test checks, over a real middleman, that only the gate is addressable.)
#include <cctype>

#include "remote_harness.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {

struct gate_fixture : registry_fixture {
  const actors::gate_state& gate_st() const {
    return dynamic_cast<actors::gate_actor&>(*caf::actor_cast<caf::abstract_actor*>(gate)).state;
  }
  static const actors::endpoint_state& endpoint_st(const caf::actor& ep) {
    return dynamic_cast<actors::endpoint_actor&>(*caf::actor_cast<caf::abstract_actor*>(ep)).state;
  }
  std::size_t logged_count(const std::vector<std::string>& lines, const std::string& part) const {
    return static_cast<std::size_t>(std::count_if(
        lines.begin(), lines.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; }));
  }
  /// A result for the live run `run` of stage a, as anyone could make it.
  actors::stage_result forged(std::uint64_t run, std::string capability) const {
    actors::stage_result r;
    r.pipeline = "p-1";
    r.stage_index = 0;  // stage a of one_stage_spec
    r.run = run;
    r.ok = true;
    r.output = R"({"forged": true})";
    r.output_value = std::make_shared<const json>(json{{"forged", true}});
    r.worker = "worker:FORGED";
    r.capability = std::move(capability);
    return r;
  }
};

bool is_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

/// True if a message holding `x` crosses CAF's network layer: its type has
/// a name CAF knows (a peer can name it), and the message, serialized as the
/// network layer does and read back, is that message again.
template <class T>
bool crosses(caf::actor_system& sys, T x) {
  const std::string& name = sys.types().portable_name(0, &typeid(T));
  if (name.empty() || name == "???") return false;  // CAF's answer for a type it does not know
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto msg = caf::make_message(std::move(x));
  if (sink(msg)) return false;
  caf::message back;
  caf::binary_deserializer source{sys, buf};
  if (source(back)) return false;
  return back.match_elements<T>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gate)

// A remote run. Order forced: [w1: result without a capability] [gate:
// refused] [w1: result with a wrong one] [gate: refused] [sup: a
// remote_result from w1 with a wrong capability, as if the gate were
// bypassed: refused] [sup: one without: refused, not logged again] [w1: the
// real result] [gate] [sup: completed]. The forged results come from the
// run's own worker (the right sender); nothing of them is recorded.
BOOST_FIXTURE_TEST_CASE(a_remote_result_without_the_run_capability_changes_nothing, gate_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  const auto run = run_of("a");
  BOOST_REQUIRE_EQUAL(remote->jobs.size(), 1u);
  const std::string cap = remote->jobs[0].job.capability;
  BOOST_CHECK_EQUAL(cap.size(), 64u);
  BOOST_CHECK(is_hex(cap));
  BOOST_CHECK_EQUAL(remote->jobs[0].job.secret, worker_secret);  // the gate put the worker's secret in
  for (const std::string& wrong : {std::string(), std::string(64, '0')}) {
    caf::anon_send(w1, forge_atom::value, run, wrong);
    step(w1);
    step(gate);
  }
  BOOST_CHECK_EQUAL(gate_st().results_refused, 2u);
  BOOST_CHECK_EQUAL(gate_st().routes.size(), 1u);  // the real result still has its way back
  caf::anon_send(sup, actors::remote_result{w1.address(), forged(run, std::string(64, '0'))});
  step(sup);
  caf::anon_send(sup, actors::remote_result{w1.address(), forged(run, "")});
  step(sup);
  BOOST_CHECK_EQUAL(st().results_refused, 2u);
  BOOST_CHECK_EQUAL(logged_count(sup_log, "refused a result for run 2 of stage 'a'"), 1u);  // once per run
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_EQUAL(busy(w1), 1u);
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system");
  answers(w1, run, true, R"({"real": 1})");
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:w1");
  BOOST_CHECK_EQUAL(state().payload(idx("a")).output->dump(), R"({"real":1})");
  BOOST_CHECK_EQUAL(busy(w1), 0u);
  BOOST_CHECK(gate_st().routes.empty());
  // The capability is kept by the supervisor only while the run is out: never in an event.
  for (const auto& e : durable()) {
    BOOST_CHECK(e.text.find(cap) == std::string::npos);
    if (e.payload) BOOST_CHECK(e.payload->dump().find(cap) == std::string::npos);
  }
}

// A run inside the server (no registry). Order forced: [worker: result
// without a capability] [sup: refused] [worker: a wrong one] [sup: refused]
// [a probe, not the worker: a wrong one] [sup: refused] [worker: the real
// result] [sup: completed].
BOOST_FIXTURE_TEST_CASE(a_local_result_without_the_run_capability_changes_nothing, gate_fixture) {
  start(one_stage_spec);
  settle();
  const auto run = run_of("a");
  BOOST_REQUIRE_EQUAL(log->jobs.size(), 1u);
  BOOST_CHECK_EQUAL(log->jobs[0].capability.size(), 64u);
  auto w = worker_of(run);
  for (const std::string& wrong : {std::string(), std::string(64, 'f')}) {
    caf::anon_send(w, forge_atom::value, forged(run, wrong));
    step(w);
    step(sup);
  }
  caf::anon_send(sup, forged(run, log->jobs[0].capability + "0"));  // a prefix is not enough
  step(sup);
  BOOST_CHECK_EQUAL(st().results_refused, 3u);
  BOOST_CHECK_EQUAL(logged_count(sup_log, "refused a result for run 2 of stage 'a'"), 1u);
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system");
  worker_sends(run, true, {{"real", 1}});
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:test");
  BOOST_CHECK_EQUAL(state().payload(idx("a")).output->dump(), R"({"real":1})");
}

// A result for a run that is not out changes nothing, even with a capability
// that was once right: after the real result, the same one again; and one
// for a run that was never started.
BOOST_FIXTURE_TEST_CASE(a_result_for_a_run_that_is_not_out_changes_nothing, gate_fixture) {
  start(one_stage_spec);
  settle();
  const auto run = run_of("a");
  const std::string cap = log->jobs[0].capability;
  worker_sends(run, true, {{"real", 1}});
  settle();
  caf::anon_send(sup, forged(run, cap));
  caf::anon_send(sup, forged(run + 7, cap));
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:test");
}

// The registry's messages are local-only types: the atom-shaped messages of
// before (what a peer could forge, with any sender) are not understood, and
// take no slot and evict nobody. Order: [probe: (dassign, "a")] [registry:
// error] [(dunassign, w)] [(dlost, w)] then a real assign_request.
BOOST_FIXTURE_TEST_CASE(registry_takes_only_local_only_types, gate_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  std::optional<caf::error> refused;
  sys->spawn(
      [&](caf::event_based_actor* self, int) {
        self->request(reg, caf::infinite, caf::atom("dassign"), std::string("a"))
            .then([](caf::actor&) { BOOST_ERROR("an atom-shaped assign got a worker"); },
                  [&](caf::error& e) { refused = e; });
      },
      0);
  sched->run();
  BOOST_REQUIRE(refused);
  BOOST_CHECK(*refused == caf::sec::unexpected_message);
  BOOST_CHECK_EQUAL(busy(w), 0u);
  caf::anon_send(reg, caf::atom("dlost"), w.address());
  caf::anon_send(reg, caf::atom("dunassign"), w);
  sched->run();
  BOOST_CHECK(registered(w));
  auto got = request_of<caf::actor>(reg, actors::assign_request{"a", {}, 0});
  BOOST_CHECK(got && *got == w);
}

// Why no peer can send them: a local-only type has no name CAF knows (no
// inspect, not registered), so no peer can name one in a message, and a
// message holding one does not survive serialization: none crosses the
// network either way. The types that do cross round-trip.
BOOST_FIXTURE_TEST_CASE(local_only_types_cannot_be_serialized, gate_fixture) {
  BOOST_CHECK(crosses(*sys, actors::job{}));
  BOOST_CHECK(crosses(*sys, actors::stage_result{}));
  BOOST_CHECK(!crosses(*sys, actors::assign_request{"a", {}, 0}));
  BOOST_CHECK(!crosses(*sys, actors::unassign_request{}));
  BOOST_CHECK(!crosses(*sys, actors::lost_report{}));
  BOOST_CHECK(!crosses(*sys, actors::registration{}));
  BOOST_CHECK(!crosses(*sys, actors::registration_answer{}));
  BOOST_CHECK(!crosses(*sys, actors::worker_forgotten{}));
  BOOST_CHECK(!crosses(*sys, actors::remote_job{}));
  BOOST_CHECK(!crosses(*sys, actors::remote_kill{}));
  BOOST_CHECK(!crosses(*sys, actors::remote_result{}));
  BOOST_CHECK(!crosses(*sys, actors::remote_undeliverable{}));
  BOOST_CHECK(!crosses(*sys, actors::endpoint_server{}));
  BOOST_CHECK(!crosses(*sys, actors::endpoint_stop{}));
  BOOST_CHECK(!crosses(*sys, actors::gate_close{}));
}

// What a peer may send the gate besides a registration and a result: a job
// (as if it were a worker endpoint), an atom-shaped assign, a result for no
// run, a down message, an error, and exit messages (one with reason kill,
// which CAF obeys even when trapped). Each is dropped and counted; only the
// first gate_drops_logged_max are logged; the gate lives on and a worker still
// registers and gets its run. Order: all queued at the gate, then run.
BOOST_FIXTURE_TEST_CASE(the_gate_drops_what_it_does_not_take_and_outlives_exit_messages, gate_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  actors::job j;
  j.pipeline = "p-1";
  j.run = 2;
  j.run_spec = R"({"command": ["sh", "-c", "echo FORGED"]})";
  j.secret = worker_secret;
  caf::anon_send(gate, j);
  caf::anon_send(gate, caf::atom("dassign"), std::string("a"));
  caf::anon_send(gate, caf::atom("dlost"), w.address());
  caf::anon_send(gate, forged(2, std::string(64, '0')));
  caf::anon_send(gate, caf::down_msg{w.address(), caf::exit_reason::remote_link_unreachable});
  caf::anon_send(gate, caf::make_error(caf::sec::runtime_error));
  caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(gate, caf::exit_reason::kill);
  sched->run();
  BOOST_CHECK_EQUAL(gate_st().exits_dropped, 2u);
  BOOST_CHECK_EQUAL(gate_st().dropped, 6u);
  BOOST_CHECK_EQUAL(gate_st().results_refused, 1u);
  BOOST_CHECK(remote->jobs.empty());
  BOOST_CHECK(registered(w));
  for (int k = 0; k < 30; ++k) caf::anon_send(gate, caf::atom("dassign"), std::string("a"));
  sched->run();
  BOOST_CHECK_EQUAL(gate_st().dropped, 36u);
  BOOST_CHECK_EQUAL(logged_count(reg_log, "worker port: dropped"), actors::gate_drops_logged_max);
  BOOST_CHECK_EQUAL(logged_count(reg_log, "further ones are counted, not logged"), 1u);
  // Alive and working.
  auto w2 = registered_stand_in("worker:w2", {"a"}, 1);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  sched->run();
  start_remote(one_stage_spec);
  settle();
  CHECK_LINES(remote->runs(), "worker:w2 a#2");
  answers(w2, 2);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:w2");
}

// The registry forgot a worker (its down reached the registry first) while
// the answer assigning it to a run was on its way: the gate no longer has its
// secret, so the job goes nowhere and the run is interrupted and goes to
// another worker. Order forced: [sup: a started, assign] [registry: assign
// -> w1] [registry: down -> forgotten] [gate: forgotten] [sup: answer ->
// remote_job] [gate: undeliverable] [sup: interrupted, a started, assign]
// [registry: -> w2].
BOOST_FIXTURE_TEST_CASE(a_job_for_a_worker_the_gate_forgot_is_interrupted, gate_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"a"}, 1);
  start_remote(one_stage_spec);
  step(sup);  // created, a started, assign queued at the registry
  step(reg);  // assign -> w1
  caf::anon_send(reg, caf::down_msg{w1.address(), caf::exit_reason::remote_link_unreachable});
  step(reg);
  BOOST_CHECK(!registered(w1));
  step(gate);  // worker_forgotten
  BOOST_CHECK_EQUAL(gate_st().secrets.size(), 1u);
  step(sup);   // the assign's answer: the job goes to the gate
  step(gate);  // undeliverable
  settle();
  BOOST_CHECK_EQUAL(remote->jobs_of("worker:w1"), 0u);
  CHECK_LINES(remote->runs(), "worker:w2 a#4");
  answers(w2, 4);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_interrupted a#2 by system",
              "stage_started a#4 by system", "stage_completed a#4 by worker:w2");
}

// A wrong token or a secret out of bounds: refused at the gate, logged; the
// registry never hears of it.
BOOST_FIXTURE_TEST_CASE(the_gate_checks_the_token_and_the_secret, gate_fixture) {
  start_registry();
  auto w = spawn_stand_in("worker:w1");
  BOOST_CHECK_EQUAL(register_worker(w, {"a"}, 1, "worker:w1", "wrong").message, "registration refused: wrong token");
  for (const std::string& secret : {std::string(), std::string(31, 's'), std::string(257, 's')}) {
    auto r = request_of<actors::reply>(gate, actors::register_atom::value, token, std::vector<std::string>{"a"},
                                       std::uint32_t{1}, std::string("worker:w1"), w, secret);
    BOOST_REQUIRE(r);
    BOOST_CHECK_EQUAL(r->message, "registration refused: the worker secret must be 32 to 256 characters");
  }
  BOOST_CHECK(reg_state().workers.empty());
  BOOST_CHECK(gate_st().secrets.empty());
  BOOST_CHECK(logged("refused worker 'worker:w1'"));
}

// The endpoint (the worker's side) takes a job only from the gate it
// registered with AND with the secret it registered with; the same for a
// kill. Order: [c2: job with the secret] [c1: job without] [c1: job with a
// wrong secret] [anonymous: job with the secret] [endpoint: each dropped]
// [c1: job with the secret: runs] [c2: kill with the secret: dropped]
// [c2: a result for that run: dropped] [c1: kill with the secret: killed].
BOOST_FIXTURE_TEST_CASE(the_endpoint_takes_jobs_only_from_its_gate_with_its_secret, gate_fixture) {
  auto ep = spawn_endpoint("worker:ep");
  auto got1 = std::make_shared<std::vector<actors::stage_result>>();
  auto got2 = std::make_shared<std::vector<actors::stage_result>>();
  auto c1 = sys->spawn(collector, got1);  // plays the gate it registered with
  auto c2 = sys->spawn(collector, got2);  // anyone else, even knowing the secret
  others.push_back(c1);
  others.push_back(c2);
  caf::anon_send(ep, actors::endpoint_server{c1, worker_secret});
  actors::job j;
  j.pipeline = "p-9";
  j.run = 7;
  j.run_spec = R"({"builtin": "sleep", "ms": 50})";  // waits on a (virtual) timer: killable
  j.input = "{}";
  j.capability = std::string(64, 'c');
  j.secret = worker_secret;
  caf::anon_send(c2, relay_atom::value, ep, j);
  j.secret.clear();
  caf::anon_send(c1, relay_atom::value, ep, j);
  j.secret = std::string(64, '6');
  caf::anon_send(c1, relay_atom::value, ep, j);
  j.secret = worker_secret;
  caf::anon_send(ep, j);
  sched->run();
  const auto& es = endpoint_st(ep);
  BOOST_CHECK(es.runs.empty());
  BOOST_CHECK_EQUAL(es.jobs, 0u);
  BOOST_CHECK_EQUAL(es.dropped, 4u);
  caf::anon_send(c1, relay_atom::value, ep, j);
  sched->run();
  BOOST_REQUIRE_EQUAL(es.runs.size(), 1u);
  caf::anon_send(c2, relay_atom::value, ep, actors::kill_atom::value, worker_secret, std::string("p-9"),
                 std::uint64_t{7});
  actors::stage_result fake;
  fake.pipeline = "p-9";
  fake.run = 7;
  fake.ok = true;
  fake.output = "{}";
  caf::anon_send(ep, fake);
  caf::anon_send_exit(ep, caf::exit_reason::kill);
  sched->run();
  BOOST_REQUIRE_EQUAL(es.runs.size(), 1u);
  BOOST_CHECK(!es.runs.begin()->second.killed);
  BOOST_CHECK_EQUAL(es.dropped, 6u);
  BOOST_CHECK_EQUAL(es.exits_dropped, 1u);
  caf::anon_send(c1, relay_atom::value, ep, actors::kill_atom::value, worker_secret, std::string("p-9"),
                 std::uint64_t{7});
  sched->run();
  BOOST_CHECK(es.runs.begin()->second.killed);
  while (sched->trigger_timeouts() > 0) sched->run();
  BOOST_CHECK(got2->empty());
  BOOST_REQUIRE_EQUAL(got1->size(), 1u);  // the result goes to the gate, with the job's capability
  BOOST_CHECK_EQUAL(got1->front().capability, std::string(64, 'c'));
}

BOOST_AUTO_TEST_SUITE_END()
