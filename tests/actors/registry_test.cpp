// Remote workers through the registry (registry.hpp, remote_worker.hpp),
// deterministically: the test coordinator runs one message at a time and each
// story names the interleaving it forces. Nothing goes over the network: the
// "worker processes" are in-process actors (real `worker_endpoint`s, or
// stand-ins that record jobs and answer when told), registered through the
// gate (gate.hpp) as a worker process would. The supervisor treats every
// worker the registry assigns as remote, so jobs and results cross as text,
// through the gate both ways.
#include "remote_harness.hpp"

using namespace dairector;
using namespace dairector::testing;


BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(tokens_equal_compares_every_byte) {
  using actors::tokens_equal;
  BOOST_CHECK(tokens_equal("", ""));
  BOOST_CHECK(tokens_equal("s3cret", "s3cret"));
  BOOST_CHECK(!tokens_equal("s3cret", "S3cret"));   // first byte
  BOOST_CHECK(!tokens_equal("s3cret", "s3creT"));   // last byte
  BOOST_CHECK(!tokens_equal("s3cret", "s3cre"));    // a prefix
  BOOST_CHECK(!tokens_equal("s3cre", "s3cret"));    // the other way
  BOOST_CHECK(!tokens_equal("", "x"));
  BOOST_CHECK(!tokens_equal("x", ""));
  BOOST_CHECK(!tokens_equal(std::string("ab\0", 3), "ab"));  // a trailing NUL is not padding
  BOOST_CHECK(!tokens_equal("ab", std::string("ab\0", 3)));
  BOOST_CHECK(tokens_equal(std::string("\xff\x00\x80", 3), std::string("\xff\x00\x80", 3)));
  BOOST_CHECK(!tokens_equal("\xff", "\x7f"));  // high bit
}

// Story 1. A real endpoint registered for a and b (capacity 1) gets a's run;
// its result (output as text) completes a `by` the worker's name; the slot is
// freed on the result, so b's run can be assigned to the same full-capacity-1
// worker.
BOOST_FIXTURE_TEST_CASE(registered_worker_runs_its_stage_and_frees_its_slot, registry_fixture) {
  start_registry();
  auto w = spawn_endpoint("worker:build-1");
  auto r = register_worker(w, {"a", "b"}, 1, "worker:build-1");
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.message);
  BOOST_CHECK(logged("worker 'worker:build-1' registered"));
  start_remote(two_stage_spec);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_completed a#2 by worker:build-1", "stage_started b#4 by system",
              "stage_completed b#4 by worker:build-1");
  BOOST_CHECK(log->jobs.empty());  // nothing ran locally
  BOOST_CHECK_EQUAL(busy(w), 0u);
  BOOST_CHECK(st().runs.size() == 0);
  // The output crossed as text and was parsed back: a's echo output.
  auto h = durable();
  auto at_start = state_at(h, 2);
  BOOST_REQUIRE(at_start.ok());
  const json input = handler_input(*at_start, idx("a"));
  BOOST_REQUIRE(h[2].payload);
  BOOST_CHECK_EQUAL(h[2].payload->dump(),
                    (json{{"inputs", input.value("inputs", json::object())},
                          {"context", input.value("context", json::object())}})
                        .dump());
}

// Story 1, step by step: with capacity 1, b's assign is only answered after
// a's result freed the slot. Order forced: [sup: a's result -> unassign]
// [journal] [sup: durable -> b started, assign] [registry: unassign, assign].
BOOST_FIXTURE_TEST_CASE(slot_is_freed_by_the_result_before_the_next_assign, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a", "b"}, 1);
  start_remote(two_stage_spec);
  settle();
  BOOST_CHECK_EQUAL(busy(w), 1u);
  const auto a_run = run_of("a");
  answers(w, a_run);
  step(sup);  // the result: unassign sent, persist requested
  BOOST_CHECK_EQUAL(busy(w), 1u);  // the registry has not seen the unassign yet
  settle();
  BOOST_CHECK_EQUAL(busy(w), 1u);  // b holds it now
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w1 b#4");
  answers(w, run_of("b"), true, R"({"b": true})");
  settle();
  BOOST_CHECK_EQUAL(busy(w), 0u);
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_completed a#2 by worker:w1", "stage_started b#4 by system", "stage_completed b#4 by worker:w1");
  BOOST_CHECK_EQUAL(state().payload(idx("b")).output->dump(), R"({"b":true})");
}

// Story 2. A wrong token is refused and logged; the endpoint never gets a
// run: the stage runs locally.
BOOST_FIXTURE_TEST_CASE(wrong_token_is_refused_and_the_run_goes_local, registry_fixture) {
  start_registry();
  auto w = spawn_stand_in("worker:intruder");
  auto r = register_worker(w, {"a"}, 4, "worker:intruder", "s3cret-tokem");
  BOOST_CHECK_EQUAL(int(r.code), int(actors::reply::refused));
  BOOST_CHECK_EQUAL(r.message, "registration refused: wrong token");
  BOOST_CHECK(logged("refused worker 'worker:intruder'"));
  BOOST_CHECK(logged("wrong token"));
  BOOST_CHECK(!logged("registered"));
  BOOST_CHECK(reg_state().workers.empty());
  start_remote(one_stage_spec);
  settle();
  BOOST_CHECK(remote->jobs.empty());
  BOOST_REQUIRE_EQUAL(log->jobs.size(), 1u);  // the local worker has it
  worker_sends(run_of("a"), true);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:test");
}

// Story 2, remote-only: the refused worker is not a worker; the run waits,
// and the intruder still gets nothing when the right one registers.
BOOST_FIXTURE_TEST_CASE(wrong_token_with_remote_only_waits_for_a_real_worker, registry_fixture) {
  start_registry({"*"});
  auto bad = spawn_stand_in("worker:intruder");
  BOOST_CHECK_EQUAL(int(register_worker(bad, {"a"}, 1, "worker:intruder", "").code), int(actors::reply::refused));
  BOOST_CHECK_EQUAL(int(register_worker(bad, {"a"}, 1, "worker:intruder", token + "x").code),
                    int(actors::reply::refused));
  start_remote(one_stage_spec);
  settle();
  BOOST_CHECK(remote->jobs.empty());
  BOOST_CHECK(log->jobs.empty());
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  auto good = spawn_stand_in("worker:good");
  BOOST_CHECK(register_worker(good, {"a"}, 1, "worker:good").is_ok());
  settle();
  CHECK_LINES(remote->runs(), "worker:good a#2");
  BOOST_CHECK_EQUAL(remote->jobs_of("worker:intruder"), 0u);
}

// A registry configured without a token refuses everyone, even an empty token;
// a registration that breaks a bound is refused with the bound.
BOOST_FIXTURE_TEST_CASE(registration_bounds_and_empty_token, registry_fixture) {
  start_registry({}, "");
  auto w = spawn_stand_in("worker:w1");
  BOOST_CHECK_EQUAL(int(register_worker(w, {"a"}, 1, "worker:w1", "").code), int(actors::reply::refused));
  BOOST_CHECK(reg_state().workers.empty());
  caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
  sched->run();
  start_registry();
  BOOST_CHECK_EQUAL(int(register_worker(w, {}, 1, "worker:w1").code), int(actors::reply::refused));
  BOOST_CHECK_EQUAL(int(register_worker(w, {"a"}, 0, "worker:w1").code), int(actors::reply::refused));
  BOOST_CHECK_EQUAL(int(register_worker(w, {"a"}, actors::worker_capacity_max + 1, "worker:w1").code),
                    int(actors::reply::refused));
  BOOST_CHECK_EQUAL(int(register_worker(caf::actor{}, {"a"}, 1, "worker:w1").code), int(actors::reply::refused));
  BOOST_CHECK(reg_state().workers.empty());
  BOOST_CHECK(register_worker(w, {"a"}, actors::worker_capacity_max, "worker:w1").is_ok());
  BOOST_CHECK(register_worker(w, {"a", "b"}, 2, "worker:w1").is_ok());  // again: updated, not added
  BOOST_REQUIRE_EQUAL(reg_state().workers.size(), 1u);
  BOOST_CHECK_EQUAL(reg_state().workers[0].capacity, 2u);
  BOOST_CHECK_EQUAL(reg_state().workers[0].stages.size(), 2u);
}

// Story 3. A stage that no worker serves runs in this process.
BOOST_FIXTURE_TEST_CASE(unserved_stage_runs_locally, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"b"}, 1);
  start_remote(two_stage_spec);
  settle();
  BOOST_REQUIRE_EQUAL(log->jobs.size(), 1u);
  BOOST_CHECK_EQUAL(log->jobs[0].stage, "a");
  BOOST_CHECK(log->jobs[0].input_value);  // local: values, not text
  BOOST_CHECK(remote->jobs.empty());
  worker_sends(run_of("a"), true, {{"x", 1}});
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 b#4");  // b is served remotely
  answers(w, run_of("b"));
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_completed a#2 by worker:test", "stage_started b#4 by system", "stage_completed b#4 by worker:w1");
}

// Story 3, remote-only "*": the run waits (no local job) until a worker
// registers, then runs there. Order forced: [sup: start, assign] [registry:
// assign waits] ... [registry: register -> serves the waiting assign] [sup].
BOOST_FIXTURE_TEST_CASE(remote_only_stage_waits_for_a_worker, registry_fixture) {
  start_registry({"*"});
  start_remote(one_stage_spec);
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK(log->jobs.empty());
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  auto w = spawn_stand_in("worker:late");
  register_queued(w, {"a"}, 1, "worker:late");
  step(gate);
  step(reg);  // registered: the waiting assign is answered now
  BOOST_CHECK(reg_state().waiting.empty());
  BOOST_CHECK_EQUAL(busy(w), 1u);
  BOOST_CHECK(remote->jobs.empty());  // the supervisor has not handled the answer yet
  settle();
  CHECK_LINES(remote->runs(), "worker:late a#2");
  answers(w, run_of("a"));
  settle();
  BOOST_CHECK(log->jobs.empty());
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:late");
}

// The race behind a worker that registered and then idled forever: a run
// waits, a worker registers, the registry hands the worker to the waiting
// supervisor, and the supervisor's job reaches the gate before the gate heard
// that the registration was accepted (so it holds no secret for that worker
// yet): "undeliverable", the supervisor reports the worker lost, the registry
// forgets it, and the worker, connected and registered in its own eyes, never
// gets a job. On a real scheduler the supervisor can run between the
// registry's two sends; the test coordinator runs a handler whole, so what is
// checked is the order of those two sends, and for that one actor plays both
// parts: the registrar and the waiting asker. Its mailbox is the order in
// which the gate and a supervisor learn: the answer must come first.
BOOST_FIXTURE_TEST_CASE(the_gate_learns_of_a_registration_before_a_waiting_run_gets_the_worker, registry_fixture) {
  start_registry({"*"});
  auto heard = std::make_shared<std::vector<std::string>>();
  auto w = spawn_stand_in("worker:late");
  // (An argument, as everywhere here: CAF 0.17 binds a function actor with
  // none through a null pointer, which UBSan reports.)
  auto both = sys->spawn([heard, r = reg](caf::event_based_actor* self, int) -> caf::behavior {
    self->request(r, caf::infinite, actors::assign_request{"a", "t", 2})
        .then([heard](const caf::actor& worker) { heard->push_back(worker ? "assigned a worker" : "assigned none"); },
              [heard](caf::error& e) { heard->push_back("error " + caf::to_string(e)); });
    return {
        [=](const caf::actor& endpoint) {
          self->send(r, actors::registration{7, {"a"}, 1, "worker:late", endpoint});
        },
        [heard](const actors::registration_answer& a) {
          heard->push_back("registration " + std::to_string(a.id) + (a.answer.is_ok() ? " accepted" : " refused"));
        },
    };
  }, 0);
  others.push_back(both);
  sched->run();
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  BOOST_CHECK(heard->empty());
  caf::anon_send(both, w);
  sched->run();
  CHECK_LINES(*heard, "registration 7 accepted", "assigned a worker");
  BOOST_CHECK_EQUAL(busy(w), 1u);
}

// Remote-only by name: only the named stage waits; the other runs here.
BOOST_FIXTURE_TEST_CASE(remote_only_by_name_leaves_other_stages_local, registry_fixture) {
  start_registry({"c"});
  start_remote(parallel_spec);
  settle();
  BOOST_REQUIRE_EQUAL(log->jobs.size(), 1u);
  BOOST_CHECK_EQUAL(log->jobs[0].stage, "a");
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  BOOST_CHECK_EQUAL(reg_state().waiting.front().stage, "c");
}

// Story 4. Capacity 1, two parallel stages: both are started at once, the
// second's assign waits, and its job reaches the worker only after the
// first's result. Order forced: [sup: start a, start c] [registry: a -> w,
// c waits] [w: a's result] [sup] [journal] [registry: unassign -> c to w].
BOOST_FIXTURE_TEST_CASE(capacity_one_serializes_parallel_stages, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a", "c"}, 1);
  start_remote(parallel_spec);
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_EQUAL(state().status(idx("c")), stage_status::running);
  CHECK_LINES(remote->runs(), "worker:w1 a#2");  // c waits for the slot
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  BOOST_REQUIRE(live(run_of("c")));
  BOOST_CHECK(!live(run_of("c"))->worker);
  answers(w, run_of("a"));
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w1 c#3");
  BOOST_CHECK(log->jobs.empty());  // waiting never means "run it here"
  answers(w, run_of("c"), true, R"({"c": 3})");
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_started c#3 by system",
              "stage_completed a#2 by worker:w1", "stage_completed c#3 by worker:w1");
  BOOST_CHECK_EQUAL(busy(w), 0u);
}

// With capacity 2 both go out at once; two workers of capacity 1 share them.
BOOST_FIXTURE_TEST_CASE(parallel_stages_spread_over_free_slots, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a", "c"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"a", "c"}, 1);
  start_remote(parallel_spec);
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w2 c#3");
  BOOST_CHECK(reg_state().waiting.empty());
}

// Round robin: among equally free workers, the one assigned longest ago.
// a then b (serial) on two idle workers of capacity 1: a goes to w1, b to w2.
BOOST_FIXTURE_TEST_CASE(equally_free_workers_take_turns, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a", "b"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"a", "b"}, 1);
  start_remote(two_stage_spec);
  settle();
  answers(w1, run_of("a"));
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w2 b#4");
  BOOST_CHECK_EQUAL(busy(w1), 0u);
  BOOST_CHECK_EQUAL(busy(w2), 1u);
}

// Story 5. The worker process dies mid-run; the supervisor's down message is
// handled before the registry's. Order forced: [w1: exit] [sup: down -> lost,
// interrupted, started again, assign] [registry: down, lost, assign -> w2].
BOOST_FIXTURE_TEST_CASE(worker_death_supervisor_first_redispatches_once, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2");
  caf::anon_send_exit(w1, caf::exit_reason::kill);
  step(w1);   // w1 is gone: down messages queued at the supervisor and the registry
  step(sup);  // the supervisor first
  BOOST_CHECK(registered(w1));  // the registry has not heard yet
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_EQUAL(run_of("a"), 4u);
  step(reg);  // its own down message: w1 forgotten
  BOOST_CHECK(!registered(w1));
  BOOST_CHECK(logged("worker 'worker:w1' is gone"));
  settle();   // lost (already gone), assign -> w2
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w2 a#4");
  answers(w2, 4);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_interrupted a#2 by system",
              "stage_started a#4 by system", "stage_completed a#4 by worker:w2");
  BOOST_CHECK_EQUAL(state().stage(idx("a")).attempt, 2u);
  BOOST_CHECK_EQUAL(busy(w2), 0u);
  BOOST_CHECK(log->jobs.empty());
}

// Story 5, the registry first. Order forced: [w1: exit] [registry: down]
// [sup: down -> lost, interrupted, started, assign] [registry: lost, assign].
BOOST_FIXTURE_TEST_CASE(worker_death_registry_first_redispatches_once, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  caf::anon_send_exit(w1, caf::exit_reason::kill);
  step(w1);
  step(reg);
  BOOST_CHECK(!registered(w1));
  BOOST_CHECK_EQUAL(run_of("a"), 2u);  // the supervisor does not know yet
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w2 a#4");
  answers(w2, 4);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_interrupted a#2 by system",
              "stage_started a#4 by system", "stage_completed a#4 by worker:w2");
}

// Story 5, the `lost` ordering: the supervisor's connection to w1 broke (a
// down message reaches only the supervisor; w1 itself lives on and the
// registry never gets a down). The supervisor tells the registry `lost`
// before it asks again, so the re-run cannot go back to w1 even though w1
// would win the round robin (w1 and w2 each hold one run of capacity 2; w1 was
// assigned longest ago). w1's late result changes nothing: the gate dropped
// w1's routes when the registry forgot it, and the run is no longer out.
BOOST_FIXTURE_TEST_CASE(lost_before_reassign_keeps_a_dead_worker_out, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a", "c"}, 2);
  auto w2 = registered_stand_in("worker:w2", {"a", "c"}, 2);
  start_remote(parallel_spec);
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w2 c#3");
  caf::anon_send(sup, caf::down_msg{w1.address(), caf::exit_reason::remote_link_unreachable});
  step(sup);  // down -> lost, a interrupted, a started again, assign
  BOOST_CHECK(registered(w1));
  step(reg);  // lost: w1 forgotten before the assign is read
  BOOST_CHECK(!registered(w1));
  BOOST_CHECK(logged("worker 'worker:w1' is gone"));
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w2 c#3", "worker:w2 a#5");
  answers(w1, 2);  // w1 was alive after all: its result is late
  answers(w2, 5);
  answers(w2, 3);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_started c#3 by system",
              "stage_interrupted a#2 by system", "stage_started a#5 by system", "stage_completed a#5 by worker:w2",
              "stage_completed c#3 by worker:w2");
  BOOST_CHECK_EQUAL(remote->jobs_of("worker:w1"), 1u);
  BOOST_CHECK_EQUAL(busy(w2), 0u);
}

// Story 5, the registry assigned a worker that had already died (its down
// message was queued behind the assign). The supervisor monitors it on the
// answer, gets a down at once, and runs the stage again on w2.
// Order forced: [sup: a started, assign] [w1: exit] [registry: assign -> w1]
// [registry: down] [sup: answer -> job to a dead actor] [sup: down] ...
BOOST_FIXTURE_TEST_CASE(assigned_a_worker_that_just_died, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"a"}, 1);
  start_remote(one_stage_spec);
  step(sup);  // created, a started, assign queued at the registry
  caf::anon_send_exit(w1, caf::exit_reason::kill);
  step(w1);   // dead; its down is behind the assign
  step(reg);  // assign -> w1
  BOOST_CHECK_EQUAL(busy(w1), 1u);
  step(reg);  // down: forgotten
  BOOST_CHECK(!registered(w1));
  settle();
  CHECK_LINES(remote->runs(), "worker:w2 a#4");
  answers(w2, 4);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_interrupted a#2 by system", "stage_started a#4 by system", "stage_completed a#4 by worker:w2");
}

// Story 6. A result for a remote run from anyone but its worker is ignored:
// no event at all (not even a discard); the worker's own result is applied.
BOOST_FIXTURE_TEST_CASE(result_from_another_sender_is_ignored, registry_fixture) {
  start_registry();
  auto w1 = registered_stand_in("worker:w1", {"a"}, 1);
  auto w2 = registered_stand_in("worker:w2", {"b"}, 1);
  start_remote(one_stage_spec);
  settle();
  const auto run = run_of("a");
  actors::stage_result forged;
  forged.pipeline = "p-1";
  forged.stage_index = static_cast<std::uint32_t>(idx("a"));
  forged.run = run;
  forged.ok = true;
  forged.output = R"({"forged": true})";
  forged.worker = "worker:w1";
  caf::anon_send(sup, forged);  // no sender at all
  step(sup);
  // Another registered worker process (w2) claims w1's run.
  remote->jobs.push_back({"worker:w2", remote->jobs[0].job, remote->jobs[0].reply_to});
  answers(w2, run, true, R"({"forged": true})");  // the gate has no such run out on w2
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK(live(run) && live(run)->remote);
  BOOST_CHECK_EQUAL(busy(w1), 1u);  // no unassign for a forged result
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system");
  answers(w1, run, true, R"({"real": 1})");
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_completed a#2 by worker:w1");
  BOOST_CHECK_EQUAL(state().payload(idx("a")).output->dump(), R"({"real":1})");
  BOOST_CHECK_EQUAL(busy(w1), 0u);
}

// A remote worker's output that is not JSON fails the stage (it is parsed by
// the supervisor, never trusted).
BOOST_FIXTURE_TEST_CASE(remote_output_that_is_not_json_fails_the_stage, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  answers(w, run_of("a"), true, "{not json");
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_failed a#2 by worker:w1 [the worker's output is not JSON]");
  BOOST_CHECK_EQUAL(busy(w), 0u);
}

// A remote worker's output past the bound of a value (nested 70,000 deep,
// which would crash whatever printed or copied it next) fails the stage with
// the bound; so does an output that gives a key twice.
BOOST_FIXTURE_TEST_CASE(remote_output_too_deep_fails_the_stage_naming_the_bound, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  answers(w, run_of("a"), true, std::string(70'000, '[') + std::string(70'000, ']'));
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_failed a#2 by worker:w1 [the worker's output nests deeper than 248 arrays and objects]");
  BOOST_CHECK_EQUAL(busy(w), 0u);
}

BOOST_FIXTURE_TEST_CASE(remote_output_with_a_key_twice_fails_the_stage, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  answers(w, run_of("a"), true, R"({"k": 1, "k": 2})");
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_failed a#2 by worker:w1 [the worker's output has the key \"k\" twice in the top-level object]");
}

// A remote worker's error (its command's stderr) may hold escape sequences
// and bytes that are not UTF-8: it is recorded as one escaped line (a byte
// that is not UTF-8 could not be encoded into the journal at all).
BOOST_FIXTURE_TEST_CASE(a_remote_error_is_recorded_as_one_escaped_line, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  answers(w, run_of("a"), false, "", "exited with status 3; stderr: \x1b[2J\xff\nboom");
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system",
              "stage_failed a#2 by worker:w1 [exited with status 3; stderr: \\x1b[2J\\xff\\nboom]");
}

// A worker's name becomes the `by` of its events and is logged: one holding a
// control character is refused, naming it, before it is registered.
BOOST_FIXTURE_TEST_CASE(a_worker_name_with_a_control_character_is_refused, registry_fixture) {
  start_registry();
  for (const std::string& name : {std::string("worker:x\n    9  forged"), std::string("worker:\x1b[2J"),
                                 std::string("worker:\xc2\x9b"), std::string("worker:\xff")}) {
    auto w = spawn_stand_in(name);
    auto r = register_worker(w, {"a"}, 1, name);
    BOOST_CHECK_EQUAL(int(r.code), int(actors::reply::refused));
    BOOST_CHECK_MESSAGE(r.message.rfind("registration refused: the name ", 0) == 0, r.message);
    BOOST_CHECK(!registered(w));
  }
  auto w = spawn_stand_in("worker:x");
  BOOST_CHECK_EQUAL(register_worker(w, {"a"}, 1, "worker:x\nforged").message,
                    "registration refused: the name holds a control character (\\n) at byte 8");
}

// Story 7. Fencing: a cancel of a stage running remotely kills the run on its
// worker; the late result is discarded, never completed, and frees the slot.
// Order forced: [sup: cancel -> kill to w] [w: kill] [w: late result] [sup].
BOOST_FIXTURE_TEST_CASE(cancel_kills_the_remote_run_and_discards_its_result, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  const auto run = run_of("a");
  caf::anon_send(sup, actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  step(sup);
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  BOOST_CHECK(remote->kills.empty());  // queued at the gate
  step(gate);
  step(w);
  CHECK_LINES(remote->kills, "worker:w1 p-1#2");
  BOOST_CHECK_EQUAL(busy(w), 1u);  // the slot is held until the run ends on the worker
  answers(w, run);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_cancelled a#2 by user:ana",
              "result_discarded a#2 by worker:w1 [completed]");
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  BOOST_CHECK_EQUAL(busy(w), 0u);
  BOOST_CHECK(st().runs.size() == 0);
}

// Story 7, the result is already queued when the cancel is handled.
// Order forced: [w: result queued] [cancel queued behind it? no: before] -> the
// cancel is handled first, then the result is discarded.
BOOST_FIXTURE_TEST_CASE(cancel_queued_before_a_remote_result_fences_it, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  caf::anon_send(sup, actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  answers(w, run_of("a"));  // queued behind the cancel
  step(sup);                // cancel
  step(sup);                // the late result
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_cancelled a#2 by user:ana",
              "result_discarded a#2 by worker:w1 [completed]");
  CHECK_LINES(remote->kills, "worker:w1 p-1#2");  // sent anyway; harmless on the worker
  BOOST_CHECK_EQUAL(busy(w), 0u);
}

// A run fenced while it waited for a slot: when the slot comes, the
// supervisor gives it back at once; the worker never sees the job.
// Order forced: [sup: start a -> assign waits (remote-only)] [sup: cancel]
// [registry: register -> answers the old assign] [sup: unassign].
BOOST_FIXTURE_TEST_CASE(run_cancelled_while_waiting_for_a_slot_gives_it_back, registry_fixture) {
  start_registry({"*"});
  start_remote(one_stage_spec);
  settle();
  caf::anon_send(sup, actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  settle();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  settle();
  BOOST_CHECK(remote->jobs.empty());
  BOOST_CHECK_EQUAL(busy(w), 0u);
  BOOST_CHECK(st().runs.size() == 0);
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_cancelled a#2 by user:ana");
}

// Story 8. The endpoint: a job whose run spec does not parse gets a failed
// result (no crash); a good job's output crosses as text only.
BOOST_FIXTURE_TEST_CASE(endpoint_answers_bad_jobs_and_sends_output_as_text, registry_fixture) {
  auto ep = spawn_endpoint("worker:ep");
  auto got = std::make_shared<std::vector<actors::stage_result>>();
  auto c = sys->spawn(collector, got);
  others.push_back(c);
  caf::anon_send(ep, actors::endpoint_server{c, worker_secret});  // c plays the gate
  actors::job j;
  j.secret = worker_secret;
  j.pipeline = "p-9";
  j.stage = "a";
  j.stage_index = 3;
  j.run = 7;
  j.attempt = 1;
  j.input = R"({"inputs": {"up": {"v": 1}}, "context": {"goal": "x"}})";
  j.run_spec = "{not json";
  caf::anon_send(c, relay_atom::value, ep, j);
  j.run = 8;
  j.run_spec = R"({"builtin": "no-such-builtin"})";
  caf::anon_send(c, relay_atom::value, ep, j);
  j.run = 9;
  j.run_spec = R"({"builtin": "echo"})";
  j.input = "{truncated";
  caf::anon_send(c, relay_atom::value, ep, j);
  j.run = 10;
  j.input = R"({"inputs": {"up": {"v": 1}}, "context": {"goal": "x"}})";
  caf::anon_send(c, relay_atom::value, ep, j);
  caf::anon_send(ep, j);  // no sender: nobody to answer, nothing happens
  sched->run();
  BOOST_REQUIRE_EQUAL(got->size(), 4u);
  auto by_run = [&](std::uint64_t run) -> const actors::stage_result& {
    for (const auto& r : *got)
      if (r.run == run) return r;
    BOOST_FAIL("no result for run " << run);
    return got->front();
  };
  for (std::uint64_t run : {7, 8, 9}) {
    const auto& r = by_run(run);
    BOOST_CHECK(!r.ok);
    BOOST_CHECK_EQUAL(r.pipeline, "p-9");
    BOOST_CHECK_EQUAL(r.stage_index, 3u);
    BOOST_CHECK_EQUAL(r.worker, "worker:ep");
    BOOST_CHECK_MESSAGE(!r.error.empty(), "run " << run);
  }
  BOOST_CHECK_EQUAL(by_run(7).error, "job has a run spec that is not JSON");
  BOOST_CHECK_MESSAGE(by_run(8).error.find("no-such-builtin") != std::string::npos, by_run(8).error);
  BOOST_CHECK_EQUAL(by_run(9).error, "the job's input is not JSON");
  const auto& ok = by_run(10);
  BOOST_CHECK(ok.ok);
  BOOST_CHECK(!ok.output_value);  // values do not cross
  BOOST_CHECK_EQUAL(ok.worker, "worker:ep");
  BOOST_CHECK_EQUAL(json::parse(ok.output).dump(), R"({"context":{"goal":"x"},"inputs":{"up":{"v":1}}})");
  BOOST_CHECK(dynamic_cast<actors::endpoint_actor&>(*caf::actor_cast<caf::abstract_actor*>(ep)).state.runs.empty());
}

// Story 8, the supervisor's side: a remote job carries text only (the run
// object and the input), never the in-process values.
BOOST_FIXTURE_TEST_CASE(remote_job_carries_text_only, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(R"({"name": "t", "stages": [{"name": "a", "run": {"builtin": "sleep", "ms": 5}}]})");
  settle();
  BOOST_REQUIRE_EQUAL(remote->jobs.size(), 1u);
  const auto& j = remote->jobs[0].job;
  BOOST_CHECK(!j.input_value);
  BOOST_CHECK(!j.spec_value);
  BOOST_CHECK_EQUAL(json::parse(j.run_spec), json::parse(R"({"builtin": "sleep", "ms": 5})"));
  BOOST_CHECK(!json::parse(j.input, nullptr, false).is_discarded());
  BOOST_CHECK_EQUAL(j.pipeline, "p-1");
  BOOST_CHECK_EQUAL(j.run, 2u);
  BOOST_CHECK_EQUAL(j.attempt, 1u);
  // What the endpoint rebuilds from that text is the stage's run object.
  auto rs = actors::job_run_spec(j);
  BOOST_REQUIRE(rs.ok());
  BOOST_CHECK((*rs)->what == run_spec::kind::sleep);
  BOOST_CHECK_EQUAL((*rs)->ms, 5);
}

// The endpoint kills a fenced run's command by (pipeline, run); one it does not
// have is ignored; `stop` forgets every run (their results go nowhere).
BOOST_FIXTURE_TEST_CASE(endpoint_kill_and_stop, registry_fixture) {
  auto ep = spawn_endpoint("worker:ep");
  auto got = std::make_shared<std::vector<actors::stage_result>>();
  auto c = sys->spawn(collector, got);
  others.push_back(c);
  caf::anon_send(ep, actors::endpoint_server{c, worker_secret});  // c plays the gate
  actors::job j;
  j.secret = worker_secret;
  j.pipeline = "p-9";
  j.run = 7;
  j.run_spec = R"({"builtin": "sleep", "ms": 50})";  // waits on a (virtual) timer
  j.input = "{}";
  caf::anon_send(c, relay_atom::value, ep, j);
  sched->run();
  auto& es = dynamic_cast<actors::endpoint_actor&>(*caf::actor_cast<caf::abstract_actor*>(ep)).state;
  BOOST_REQUIRE_EQUAL(es.runs.size(), 1u);
  caf::anon_send(c, relay_atom::value, ep, actors::kill_atom::value, worker_secret, std::string("p-9"),
                 std::uint64_t{8});  // not that run
  sched->run();
  BOOST_CHECK(!es.runs.begin()->second.killed);
  caf::anon_send(c, relay_atom::value, ep, actors::kill_atom::value, worker_secret, std::string("p-9"),
                 std::uint64_t{7});
  sched->run();
  BOOST_CHECK(es.runs.begin()->second.killed);
  // A killed run's result still goes back (the supervisor records it discarded).
  while (sched->trigger_timeouts() > 0) sched->run();
  BOOST_REQUIRE_EQUAL(got->size(), 1u);
  BOOST_CHECK(es.runs.empty());
  j.run = 11;
  caf::anon_send(c, relay_atom::value, ep, j);
  sched->run();
  BOOST_CHECK_EQUAL(es.runs.size(), 1u);
  caf::anon_send(ep, actors::endpoint_stop{false});
  sched->run();
  BOOST_CHECK(es.runs.empty());
  while (sched->trigger_timeouts() > 0) sched->run();
  BOOST_CHECK_EQUAL(got->size(), 1u);  // the stopped run's result is dropped
}

// The endpoint's own worker for a run stops before answering (here: killed
// while its sleep timer is pending). The endpoint answers the run failed
// instead of leaving the server's stage running forever.
// Order forced: [endpoint: job -> shared worker] [worker: job, timer]
// [worker: exit] [endpoint: down].
BOOST_FIXTURE_TEST_CASE(endpoint_answers_a_run_whose_worker_died, registry_fixture) {
  auto ep = spawn_endpoint("worker:ep");
  auto got = std::make_shared<std::vector<actors::stage_result>>();
  auto c = sys->spawn(collector, got);
  others.push_back(c);
  caf::anon_send(ep, actors::endpoint_server{c, worker_secret});  // c plays the gate
  actors::job j;
  j.secret = worker_secret;
  j.pipeline = "p-9";
  j.stage_index = 2;
  j.run = 7;
  j.run_spec = R"({"builtin": "sleep", "ms": 50})";
  j.input = "{}";
  caf::anon_send(c, relay_atom::value, ep, j);
  sched->run();
  auto& es = dynamic_cast<actors::endpoint_actor&>(*caf::actor_cast<caf::abstract_actor*>(ep)).state;
  BOOST_REQUIRE_EQUAL(es.shared.size(), 1u);
  caf::anon_send_exit(es.shared.begin()->second, caf::exit_reason::kill);
  sched->run();
  BOOST_REQUIRE_EQUAL(got->size(), 1u);
  const auto& r = got->front();
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.run, 7u);
  BOOST_CHECK_EQUAL(r.pipeline, "p-9");
  BOOST_CHECK_EQUAL(r.stage_index, 2u);
  BOOST_CHECK_EQUAL(r.worker, "worker:ep");
  BOOST_CHECK_MESSAGE(r.error.find("stopped") != std::string::npos, r.error);
  BOOST_CHECK(es.runs.empty());
  BOOST_CHECK(es.shared.empty());
  // The next job gets a new worker.
  j.run = 8;
  j.run_spec = R"({"builtin": "echo"})";
  caf::anon_send(c, relay_atom::value, ep, j);
  sched->run();
  BOOST_REQUIRE_EQUAL(got->size(), 2u);
  BOOST_CHECK(got->back().ok);
}

// The same through a supervisor: the stage fails (by the worker process), its
// slot is freed; it is not left running.
BOOST_FIXTURE_TEST_CASE(remote_run_whose_worker_died_on_the_endpoint_fails, registry_fixture) {
  start_registry({"*"});
  auto ep = spawn_endpoint("worker:ep");
  register_worker(ep, {"a"}, 1, "worker:ep");
  start_remote(R"({"name": "t", "stages": [{"name": "a", "run": {"builtin": "sleep", "ms": 50}}]})");
  sched->run();  // not settle(): that would fire the sleep timer
  auto& es = dynamic_cast<actors::endpoint_actor&>(*caf::actor_cast<caf::abstract_actor*>(ep)).state;
  BOOST_REQUIRE_EQUAL(es.shared.size(), 1u);
  caf::anon_send_exit(es.shared.begin()->second, caf::exit_reason::kill);
  settle();
  const auto lines = story();
  BOOST_REQUIRE_EQUAL(lines.size(), 3u);
  BOOST_CHECK_EQUAL(lines[1], "stage_started a#2 by system");
  BOOST_CHECK_MESSAGE(lines[2].rfind("stage_failed a#2 by worker:ep [", 0) == 0, lines[2]);
  BOOST_CHECK_EQUAL(busy(ep), 0u);
}

// A supervisor that stops while its run holds a worker's slot: the slot is
// freed when the registry sees the supervisor go (nobody will unassign it).
BOOST_FIXTURE_TEST_CASE(supervisor_gone_frees_its_slots, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  BOOST_CHECK_EQUAL(busy(w), 1u);
  caf::anon_send(sup, actors::stop_atom::value);
  sched->run();  // the supervisor is gone (no settle: no state to check)
  CHECK_LINES(remote->kills, "worker:w1 p-1#2");
  caf::anon_send(w, answer_atom::value, std::uint64_t{2}, true, std::string("{}"), std::string());
  sched->run();  // its result goes nowhere
  BOOST_CHECK_EQUAL(busy(w), 0u);
  auto got = request_of<caf::actor>(reg, actors::assign_request{"a", {}, 0});
  BOOST_CHECK(got && *got == w);
  sup = {};
}

// A supervisor that stops while its assign waits: the slot is never taken
// for it when a worker comes.
BOOST_FIXTURE_TEST_CASE(supervisor_gone_while_waiting_takes_no_slot, registry_fixture) {
  start_registry({"*"});
  start_remote(one_stage_spec);
  settle();
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  caf::anon_send(sup, actors::stop_atom::value);
  sched->run();
  BOOST_CHECK(reg_state().waiting.empty());
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  BOOST_CHECK_EQUAL(busy(w), 0u);
  BOOST_CHECK(remote->jobs.empty());
  sup = {};
}

// A connection blip: the registry sees the worker go first, the worker
// registers again at once (same actor, same address), and only then does the
// supervisor handle its own down and tell the registry `lost`. That report
// is about the old connection: the worker registered since stays.
// Order forced: [registry: down] [gate: forgotten] [gate, registry, gate:
// register] [sup: down -> lost, interrupted, started, assign] [registry:
// lost, assign].
BOOST_FIXTURE_TEST_CASE(stale_lost_does_not_evict_a_worker_that_registered_again, registry_fixture) {
  start_registry({"*"});
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2");
  caf::anon_send(reg, caf::down_msg{w.address(), caf::exit_reason::remote_link_unreachable});
  step(reg);
  BOOST_CHECK(!registered(w));
  step(gate);  // worker_forgotten: its secret and routes are dropped
  register_queued(w, {"a"}, 1, "worker:w1");
  step(gate);
  step(reg);
  step(gate);
  BOOST_REQUIRE(registered(w));
  caf::anon_send(sup, caf::down_msg{w.address(), caf::exit_reason::remote_link_unreachable});
  step(sup);
  settle();
  BOOST_CHECK(registered(w));
  CHECK_LINES(remote->runs(), "worker:w1 a#2", "worker:w1 a#4");
  answers(w, 4);
  settle();
  CHECK_LINES(story(), "pipeline_created by system", "stage_started a#2 by system", "stage_interrupted a#2 by system",
              "stage_started a#4 by system", "stage_completed a#4 by worker:w1");
}

// An unassign for a worker whose slot the sender does not hold (a stale one
// after the worker came back, or anyone else's) does not free someone
// else's slot.
BOOST_FIXTURE_TEST_CASE(unassign_frees_only_a_slot_the_sender_holds, registry_fixture) {
  start_registry();
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  start_remote(one_stage_spec);
  settle();
  BOOST_CHECK_EQUAL(busy(w), 1u);
  caf::anon_send(reg, actors::unassign_request{w});
  sched->run();
  BOOST_CHECK_EQUAL(busy(w), 1u);
  auto other = request_of<caf::actor>(reg, actors::assign_request{"b", {}, 0});  // unserved: run here
  BOOST_CHECK(other && !*other);
  answers(w, 2);
  settle();
  BOOST_CHECK_EQUAL(busy(w), 0u);
}

// Silent waits made visible. A remote-only run that no connected worker
// serves waits in the registry: waits_request names it with the reason, the
// log says so once. Order forced: [gate: registration -> registry]
// [registry: enrolls, hands the waiting run over] and at that very step the
// wait is gone (and "taken" is logged once); only then [sup: job -> gate].
std::size_t lines_with(const std::vector<std::string>& log, const std::string& part) {
  return static_cast<std::size_t>(
      std::count_if(log.begin(), log.end(), [&](const std::string& l) { return l.find(part) != std::string::npos; }));
}

BOOST_FIXTURE_TEST_CASE(a_wait_is_shown_until_the_run_is_dispatched, registry_fixture) {
  start_registry({"*"});
  start_remote(one_stage_spec);
  settle();
  auto waits = request_of<std::vector<actors::stage_wait>>(reg, actors::waits_request{"p-1"});
  BOOST_REQUIRE(waits && waits->size() == 1u);
  BOOST_CHECK_EQUAL((*waits)[0].stage, "a");
  BOOST_CHECK_EQUAL((*waits)[0].run, run_of("a"));
  BOOST_CHECK_EQUAL((*waits)[0].reason, "no connected worker serves stage 'a'");
  BOOST_CHECK_GT((*waits)[0].since_ms, 0);
  auto other = request_of<std::vector<actors::stage_wait>>(reg, actors::waits_request{"p-2"});
  BOOST_CHECK(other && other->empty());  // by pipeline
  BOOST_CHECK_EQUAL(lines_with(reg_log, "pipeline 'p-1' run 2 of stage 'a' waits for a worker: no connected worker serves stage 'a'"), 1u);
  auto w = spawn_stand_in("worker:w1");
  caf::anon_send(w, actors::endpoint_server{gate, worker_secret});
  step(w);
  register_queued(w, {"a"}, 1, "worker:w1");
  step(gate);  // the registration goes to the registry
  BOOST_CHECK_EQUAL(reg_state().waiting.size(), 1u);
  step(reg);   // enrolled: the waiting run is handed over at once
  BOOST_CHECK(reg_state().waiting.empty());
  BOOST_CHECK_EQUAL(lines_with(reg_log, "pipeline 'p-1' run 2 of stage 'a' taken by worker 'worker:w1' after waiting"), 1u);
  BOOST_CHECK(remote->runs().empty());  // the supervisor has not sent the job yet
  settle();
  CHECK_LINES(remote->runs(), "worker:w1 a#2");
  waits = request_of<std::vector<actors::stage_wait>>(reg, actors::waits_request{"p-1"});
  BOOST_CHECK(waits && waits->empty());
  BOOST_CHECK_EQUAL(lines_with(reg_log, "waits for a worker"), 1u);  // never once per retry
  BOOST_CHECK_EQUAL(lines_with(reg_log, "taken by worker"), 1u);
}

// A cancel while the run waits: the supervisor withdraws it, so no stale
// wait is shown, the log says how it ended, and a worker that connects later
// gets nothing. Order forced: [sup: cancel, durable] [sup: withdraw ->
// registry] [registry: wait ended] [sup: the answer, the run dropped].
BOOST_FIXTURE_TEST_CASE(a_cancel_during_the_wait_leaves_no_stale_wait, registry_fixture) {
  start_registry({"*"});
  start_remote(one_stage_spec);
  settle();
  BOOST_REQUIRE_EQUAL(reg_state().waiting.size(), 1u);
  const auto run = run_of("a");
  ask(actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  BOOST_CHECK(reg_state().waiting.empty());
  auto waits = request_of<std::vector<actors::stage_wait>>(reg, actors::waits_request{"p-1"});
  BOOST_CHECK(waits && waits->empty());
  BOOST_CHECK(!live(run));  // nothing left in the run table either
  BOOST_CHECK_EQUAL(lines_with(reg_log, "pipeline 'p-1' run 2 of stage 'a' stopped waiting (cancelled or outdated)"), 1u);
  auto w = registered_stand_in("worker:w1", {"a"}, 1);
  settle();
  BOOST_CHECK(remote->runs().empty());
  BOOST_CHECK_EQUAL(busy(w), 0u);
  BOOST_CHECK_EQUAL(lines_with(reg_log, "taken by worker"), 0u);
}

BOOST_AUTO_TEST_SUITE_END()
