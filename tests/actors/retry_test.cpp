// run.retry in the supervisor (docs/spec.md#retry-run-the-stage-again): its
// timer against what may arrive first. The clock is the fixture's; the
// timer is CAF's delayed message, fired by the test coordinator when the test
// says. No sleeps: "not sooner" is a timer that fires before the fixture's
// clock reaches the due time and starts nothing.
#include "harness.hpp"

#include "dairector/plan.hpp"
#include "dairector/retry.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {

const char* flaky_spec = R"({"name": "t", "stages": [
  {"name": "up", "run": {"builtin": "echo"}},
  {"name": "a", "after": ["up"], "run": {"builtin": "echo", "retry": {"max_attempts": 3, "backoff_ms": 5000}}},
  {"name": "c", "run": {"builtin": "echo"}, "confirm": "Go on?"}]})";

actors::reply reply_of(const caf::message& m) {
  BOOST_REQUIRE_MESSAGE(m.match_element<actors::reply>(0), "expected a reply, got " << caf::to_string(m));
  return m.get_as<actors::reply>(0);
}

struct retry_fixture : fixture {
  /// Runs every message, but fires no timer.
  void drain() {
    sched->run();
    check();
  }
  /// Fires the timers that are out, then runs what follows (once).
  void fire_timers() {
    sched->trigger_timeouts();
    drain();
  }
  std::uint64_t live(const std::string& stage) const { return state().stage(idx(stage)).run; }
  /// Completes `up` and fails the first run of `a`: a retry is scheduled.
  std::int64_t fail_a_once() {
    settle();  // created; up and c started
    worker_sends(live("up"), true, {{"up", 1}});
    drain();
    BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
    worker_sends(live("a"), false, json::object(), "boom");
    drain();
    BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::failed);
    const std::int64_t due = state().retry_at(idx("a"));
    BOOST_REQUIRE_MESSAGE(due != 0, "no retry scheduled");
    return due;
  }
  const event* last_of(const std::vector<event>& h, event_type t, stage_index stage) const {
    for (auto it = h.rbegin(); it != h.rend(); ++it)
      if (it->type == t && it->stage == stage) return &*it;
    return nullptr;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(retry)

// The timer fires before the fixture's clock says the retry is due: nothing
// starts (not sooner). Then the clock reaches it: the stage starts once, at
// or after the due time, with a delay the policy gives for the seed.
BOOST_FIXTURE_TEST_CASE(a_failed_stage_starts_again_when_its_retry_is_due_not_sooner, retry_fixture) {
  start(flaky_spec);
  const std::int64_t due = fail_a_once();
  const std::uint64_t failed_run = live("a");
  auto h = durable();
  const event* scheduled = last_of(h, event_type::retry_scheduled, idx("a"));
  BOOST_REQUIRE(scheduled);
  BOOST_CHECK_EQUAL(scheduled->run, failed_run);
  const retry_spec policy{3, 5000, 60'000};
  BOOST_CHECK_EQUAL(scheduled->delay_ms, retry_delay_ms(policy, state().seed(), idx("a"), 1));
  BOOST_CHECK_EQUAL(due, scheduled->at_ms + static_cast<std::int64_t>(scheduled->delay_ms));
  BOOST_CHECK(outcome(state()) == pipeline_outcome::active);  // a retry waits

  fire_timers();  // early: the fixture's clock is still far from `due`
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::failed);
  BOOST_CHECK_EQUAL(live("a"), failed_run);

  clock = due - 1;  // the next reading is `due`
  fire_timers();
  BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_EQUAL(state().stage(idx("a")).tries, 2);
  h = durable();
  const event* started = last_of(h, event_type::stage_started, idx("a"));
  BOOST_REQUIRE(started);
  BOOST_CHECK_GE(started->at_ms, due);
  fire_timers();  // a stale timer starts nothing more
  BOOST_CHECK_EQUAL(live("a"), started->run);
  BOOST_CHECK(same_facts(*fold(durable()), state()));
}

// The cancel arrives before the timer: the pipeline is cancelled, the retry
// moot; the timer that fires later starts nothing.
BOOST_FIXTURE_TEST_CASE(a_cancel_before_the_timer_makes_the_retry_moot, retry_fixture) {
  start(flaky_spec);
  const std::int64_t due = fail_a_once();
  auto answer = ask(actors::cancel_atom::value, std::string(), std::string("user:ana"));
  BOOST_CHECK_EQUAL(int(reply_of(answer).code), int(actors::reply::ok));
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  BOOST_CHECK_EQUAL(state().retry_at(idx("a")), 0);
  clock = due + 10;
  fire_timers();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
  BOOST_CHECK(outcome(state()) == pipeline_outcome::cancelled);
  auto h = durable();
  BOOST_CHECK(h.back().type == event_type::stage_cancelled);
  // The timer fired before a cancel could: the run started, and a cancel
  // of the stage then cancels that run (the reverse order).
}

BOOST_FIXTURE_TEST_CASE(the_timer_before_a_cancel_starts_the_run_the_cancel_then_stops, retry_fixture) {
  start(flaky_spec);
  const std::int64_t due = fail_a_once();
  clock = due;
  fire_timers();
  BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
  auto answer = ask(actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  BOOST_CHECK_EQUAL(int(reply_of(answer).code), int(actors::reply::ok));
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);
}

// Chosen (docs/spec.md#retry-run-the-stage-again): a context change upstream
// of a stage that waits for its retry makes it outdated; the retry is moot,
// the stage runs again at once (its inputs changed) with a fresh budget, and
// the old timer starts nothing more.
BOOST_FIXTURE_TEST_CASE(a_context_change_while_a_retry_waits_reruns_it_at_once_with_a_fresh_budget, retry_fixture) {
  start(flaky_spec);
  const std::int64_t due = fail_a_once();
  auto answer = ask(actors::context_atom::value, std::string("up"), std::string(R"({"k": 2})"), std::string("user:ana"));
  BOOST_CHECK_EQUAL(int(reply_of(answer).code), int(actors::reply::ok));
  // up is not outdated (rule 7: only downstream); a was, and starts again at once.
  BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_LT(clock, due);
  BOOST_CHECK_EQUAL(state().stage(idx("a")).tries, 1);  // reset by the cascade, then this run
  const std::uint64_t run = live("a");
  clock = due + 10;
  fire_timers();
  BOOST_CHECK_EQUAL(live("a"), run);
}

// Rule 2: a confirmation pending when the retry falls due blocks the start;
// the retry starts once the confirmation is resolved.
BOOST_FIXTURE_TEST_CASE(a_retry_due_under_a_pending_confirmation_starts_after_it_is_resolved, retry_fixture) {
  start(flaky_spec);
  const std::int64_t due = fail_a_once();
  worker_sends(live("c"), true, {{"c", 1}});
  drain();
  BOOST_REQUIRE(state().pending());
  clock = due + 100;
  fire_timers();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::failed);  // due, but under the lock
  BOOST_CHECK(outcome(state()) == pipeline_outcome::waiting);
  auto answer = ask(actors::resolve_atom::value, true, std::string(), std::string("user:ana"));
  BOOST_CHECK_EQUAL(int(reply_of(answer).code), int(actors::reply::ok));
  BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
  auto h = durable();
  const event* resolved = last_of(h, event_type::confirmation_resolved, idx("c"));
  const event* started = last_of(h, event_type::stage_started, idx("a"));
  BOOST_REQUIRE(resolved && started);
  BOOST_CHECK_GT(started->seq, resolved->seq);
}

// When the retries are used up the stage is failed for good (no on_failure).
BOOST_FIXTURE_TEST_CASE(after_max_attempts_the_stage_stays_failed, retry_fixture) {
  start(flaky_spec);
  std::int64_t due = fail_a_once();
  for (int run = 2; run <= 3; ++run) {
    clock = due;
    fire_timers();
    BOOST_REQUIRE_EQUAL(state().status(idx("a")), stage_status::running);
    worker_sends(live("a"), false, json::object(), "boom " + std::to_string(run));
    drain();
    due = state().retry_at(idx("a"));
  }
  BOOST_CHECK_EQUAL(due, 0);  // 3 runs made: no retry scheduled
  BOOST_CHECK_EQUAL(state().stage(idx("a")).tries, 3);
  worker_sends(live("c"), true, {{"c", 1}});
  drain();
  ask(actors::resolve_atom::value, true, std::string(), std::string("user:ana"));
  BOOST_CHECK(outcome(state()) == pipeline_outcome::failed);
  // A retry by hand gives it a fresh budget and starts it at once.
  auto answer = ask(actors::retry_atom::value, std::string("a"), std::string("user:ana"));
  BOOST_CHECK_EQUAL(int(reply_of(answer).code), int(actors::reply::ok));
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  BOOST_CHECK_EQUAL(state().stage(idx("a")).tries, 1);
  // And a retry of a running stage is refused with the reason, as a refusal.
  auto again = reply_of(ask(actors::retry_atom::value, std::string("a"), std::string("user:ana")));
  BOOST_CHECK_EQUAL(int(again.code), int(actors::reply::refused));
  BOOST_CHECK_MESSAGE(again.message.find("is running") != std::string::npos, again.message);
  auto unknown = reply_of(ask(actors::retry_atom::value, std::string("zz"), std::string("user:ana")));
  BOOST_CHECK_EQUAL(int(unknown.code), int(actors::reply::not_found));
}

// Recovery (rule 8): a supervisor rebuilt from a journal whose retry still
// waits arms its timer from the recorded due time: not sooner, not never.
BOOST_FIXTURE_TEST_CASE(a_recovered_pipeline_starts_its_waiting_retry_when_due, retry_fixture) {
  start(flaky_spec);
  const std::int64_t due = fail_a_once();
  const std::vector<event> h = durable();
  auto replayed = fold(h);
  BOOST_REQUIRE(replayed.ok());
  // The old supervisor goes (a crash: its timer goes with it).
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  sched->run();  // not drain(): there is no state to check until the next one starts
  recovered = *replayed;
  start(flaky_spec);
  drain();
  BOOST_CHECK_EQUAL(state().retry_at(idx("a")), due);
  fire_timers();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::failed);  // not sooner
  clock = due;
  fire_timers();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);  // not never
}

BOOST_AUTO_TEST_SUITE_END()
