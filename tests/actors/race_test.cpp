// Deterministic races: each test names the interleaving it forces with the
// test coordinator (docs/contributing.md#deterministic-actor-tests). No sleeps.
#include "harness.hpp"

using namespace dairector;
using namespace dairector::testing;

BOOST_AUTO_TEST_SUITE(race)

// The blog's freeze: the worker has finished and sent its result, but the
// supervisor handles a cancel that was already in its mailbox first.
// Order forced: [sup: cancel] then [sup: result of the cancelled run].
BOOST_FIXTURE_TEST_CASE(cancel_before_result_fences_the_run, fixture) {
  start(two_stage_spec);
  settle();  // created, a started, job at the worker
  const std::uint64_t run = state().stage(idx("a")).run;
  BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
  caf::anon_send(sup, actors::cancel_atom::value, std::string("a"), std::string("user:ana"));  // queued first
  worker_sends(run, true, {{"x", 1}});  // the result is queued behind the cancel
  step(sup);                            // cancel
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  step(sup);                            // the late result
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::pending);  // never started on a fenced result
  auto h = durable();
  BOOST_REQUIRE(!h.empty());
  BOOST_CHECK(h.back().type == event_type::result_discarded);
  BOOST_CHECK_EQUAL(h.back().run, run);
  BOOST_CHECK(same_facts(*fold(h), state()));
}

// The reverse: the result is handled first, then the cancel finds the stage
// completed. Order forced: [sup: result] [journal: persist] [sup: cancel].
BOOST_FIXTURE_TEST_CASE(result_before_cancel_answers_already_completed, fixture) {
  start(two_stage_spec, /*drive=*/false);
  settle();
  BOOST_REQUIRE(ask(actors::start_atom::value, std::string("a"), std::string("user:ana")).match_element<actors::reply>(0));
  const std::uint64_t run = state().stage(idx("a")).run;
  worker_sends(run, true, {{"x", 1}});
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  auto answer = ask(actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  BOOST_REQUIRE(answer.match_element<actors::reply>(0));
  const auto& r = answer.get_as<actors::reply>(0);
  BOOST_CHECK_EQUAL(int(r.code), int(actors::reply::refused));
  BOOST_CHECK_MESSAGE(r.message.find("already completed") != std::string::npos, r.message);
}

// Rule 5: while the journal has not confirmed a completion, the supervisor
// handles nothing else, so a cancel sent meanwhile is handled after it.
// Order forced: [sup: result -> persist request] [cancel queued] [journal] [sup].
BOOST_FIXTURE_TEST_CASE(cancel_while_completion_is_written_waits_for_it, fixture) {
  start(two_stage_spec, /*drive=*/false);
  settle();
  ask(actors::start_atom::value, std::string("a"), std::string("user:ana"));
  const std::uint64_t run = state().stage(idx("a")).run;
  worker_sends(run, true, {{"x", 1}});
  step(sup);  // the result: a persist request goes to the journal, the supervisor awaits
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);  // not visible before durable
  caf::anon_send(sup, actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  step(sup);  // the supervisor is awaiting: the cancel must stay queued
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  step(journal);  // durable
  step(sup);      // the completion is applied first...
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  settle();       // ...then the cancel, refused: already completed
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
}

namespace {
const char* confirm_spec = R"({"name": "t", "stages": [
  {"name": "a", "run": {"builtin": "echo"}, "confirm": "Approve a?"},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
  {"name": "c", "run": {"builtin": "echo"}}]})";

actors::reply reply_of(const caf::message& m) {
  BOOST_REQUIRE_MESSAGE(m.match_element<actors::reply>(0), "expected a reply, got " << caf::to_string(m));
  return m.get_as<actors::reply>(0);
}
}  // namespace

// A context change upstream lands while a downstream run is in flight.
// Order forced: [b running] [sup: context change on a] [worker of b sends]
// [sup: b's late result] -> discarded; b outdated, then started again.
BOOST_FIXTURE_TEST_CASE(context_change_upstream_fences_a_downstream_run, fixture) {
  start(two_stage_spec);
  settle();
  worker_sends(state().stage(idx("a")).run, true, {{"a", 1}});
  settle();  // a completed, b started
  const std::uint64_t b_run = state().stage(idx("b")).run;
  BOOST_REQUIRE_EQUAL(state().status(idx("b")), stage_status::running);
  auto answer = reply_of(ask(actors::context_atom::value, std::string("a"), std::string(R"({"goal": "v2"})"),
                             std::string("user:ana")));
  BOOST_CHECK(answer.is_ok());
  // The driver re-started b at once with a fresh run; a is untouched (never upstream).
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::running);
  BOOST_CHECK_GT(state().stage(idx("b")).run, b_run);
  worker_sends(b_run, true, {{"stale", true}});  // the old run's result arrives late
  settle();
  auto h = durable();
  BOOST_CHECK(h.back().type == event_type::result_discarded && h.back().run == b_run);
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::running);  // still the new run
  bool outdated_seen = false;
  for (const auto& e : h) outdated_seen = outdated_seen || e.type == event_type::context_changed;
  BOOST_CHECK(outdated_seen);
  // The history shows b outdated right after the change.
  for (std::uint64_t seq = 1; seq <= h.size(); ++seq)
    if (h[seq - 1].type == event_type::context_changed) {
      auto at = state_at(h, seq);
      BOOST_CHECK_EQUAL(at->status(idx("b")), stage_status::outdated);
    }
}

// The global lock: a start while a confirmation is pending is blocked with the
// confirmation's message, even for an unrelated branch; confirm releases it.
BOOST_FIXTURE_TEST_CASE(start_while_confirmation_pending_is_blocked_until_confirmed, fixture) {
  start(confirm_spec, /*drive=*/false);
  settle();
  BOOST_CHECK(reply_of(ask(actors::start_atom::value, std::string("a"), std::string("user:ana"))).is_ok());
  worker_sends(state().stage(idx("a")).run, true);
  settle();
  BOOST_REQUIRE(state().pending());  // owed: requested as soon as a completed
  auto blocked = reply_of(ask(actors::start_atom::value, std::string("c"), std::string("user:ana")));
  BOOST_CHECK_EQUAL(int(blocked.code), int(actors::reply::blocked));
  BOOST_CHECK_EQUAL(blocked.message, "blocked: waiting for confirmation: Approve a?");
  BOOST_CHECK_EQUAL(state().status(idx("c")), stage_status::ready);  // nothing started
  BOOST_CHECK(reply_of(ask(actors::resolve_atom::value, true, std::string("fine"), std::string("user:ana"))).is_ok());
  BOOST_CHECK(!state().pending());
  BOOST_CHECK(reply_of(ask(actors::start_atom::value, std::string("c"), std::string("user:ana"))).is_ok());
  BOOST_CHECK(reply_of(ask(actors::start_atom::value, std::string("b"), std::string("user:ana"))).is_ok());
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::running);
}

// Reject: the stage that asked becomes outdated, its downstream stays pending.
BOOST_FIXTURE_TEST_CASE(reject_outdates_the_stage_that_asked, fixture) {
  start(confirm_spec, /*drive=*/false);
  settle();
  ask(actors::start_atom::value, std::string("a"), std::string("user:ana"));
  worker_sends(state().stage(idx("a")).run, true);
  settle();
  BOOST_REQUIRE(state().pending());
  BOOST_CHECK(reply_of(ask(actors::resolve_atom::value, false, std::string("redo"), std::string("user:bo"))).is_ok());
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::outdated);
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::pending);
  auto again = reply_of(ask(actors::resolve_atom::value, true, std::string(), std::string("user:bo")));
  BOOST_CHECK_EQUAL(int(again.code), int(actors::reply::refused));  // nothing pending any more
}

// A second start of a running stage is refused; the first run stays live.
BOOST_FIXTURE_TEST_CASE(double_start_is_refused, fixture) {
  start(two_stage_spec, /*drive=*/false);
  settle();
  BOOST_CHECK(reply_of(ask(actors::start_atom::value, std::string("a"), std::string("user:ana"))).is_ok());
  const std::uint64_t run = state().stage(idx("a")).run;
  auto second = reply_of(ask(actors::start_atom::value, std::string("a"), std::string("user:bo")));
  BOOST_CHECK_EQUAL(int(second.code), int(actors::reply::refused));
  BOOST_CHECK_MESSAGE(second.message.find("already running") != std::string::npos, second.message);
  BOOST_CHECK_EQUAL(state().stage(idx("a")).run, run);
  BOOST_CHECK_EQUAL(log->jobs.size(), std::size_t(1));  // one worker, one job
}

// A worker that dies mid-run: its down message ends the run as interrupted,
// and the driver starts the stage again with a fresh run. Never stuck running.
BOOST_FIXTURE_TEST_CASE(worker_death_interrupts_the_run, fixture) {
  start(two_stage_spec);
  settle();
  const std::uint64_t run = state().stage(idx("a")).run;
  caf::anon_send_exit(worker_of(run), caf::exit_reason::kill);
  settle();
  auto h = durable();
  bool interrupted = false;
  for (const auto& e : h) interrupted = interrupted || (e.type == event_type::stage_interrupted && e.run == run);
  BOOST_CHECK(interrupted);
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_GT(state().stage(idx("a")).run, run);
  BOOST_CHECK_EQUAL(state().stage(idx("a")).attempt, 2u);
}

// An unknown message and a malformed one get error replies; the supervisor
// lives on and answers the next request.
BOOST_FIXTURE_TEST_CASE(unknown_and_malformed_messages_get_errors, fixture) {
  start(two_stage_spec, /*drive=*/false);
  settle();
  auto unknown = ask(std::string("hello"), 42);
  BOOST_CHECK(unknown.match_element<caf::error>(0));
  auto malformed = ask(actors::start_atom::value, 42);  // a start without a stage name
  BOOST_CHECK(malformed.match_element<caf::error>(0));
  auto bad_json = reply_of(ask(actors::context_atom::value, std::string("a"), std::string("{not json"),
                               std::string("user:ana")));
  BOOST_CHECK_EQUAL(int(bad_json.code), int(actors::reply::invalid));
  auto no_stage = reply_of(ask(actors::start_atom::value, std::string("ghost"), std::string("user:ana")));
  BOOST_CHECK_EQUAL(int(no_stage.code), int(actors::reply::not_found));
  BOOST_CHECK(reply_of(ask(actors::start_atom::value, std::string("a"), std::string("user:ana"))).is_ok());
  BOOST_CHECK_EQUAL(state().seq(), 2u);  // created + started: the bad requests changed nothing
}

BOOST_AUTO_TEST_SUITE_END()
