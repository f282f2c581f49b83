// The reducer (docs/design.md#the-nine-rules): every legal transition, and every
// illegal one refused with its code and a sentence saying why; the state is a
// value: applying an event to a copy leaves the original as it was, and
// payloads are shared, never deep-copied.
#include <string>
#include <vector>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// a → b (asks "Is b right?") → d, and a → c beside it.
std::shared_ptr<const pipeline_spec> gate_spec() {
  return must_parse(R"({"name": "gate", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}, "confirm": "Is b right?"},
    {"name": "c", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "d", "after": ["b"], "run": {"builtin": "echo"}}]})");
}

/// The gate with 'a' and 'b' completed and b's confirmation pending.
history gate_pending() {
  history h(gate_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  BOOST_REQUIRE((h.system_step() == event_type::confirmation_requested));
  return h;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reducer)

// ---------------------------------------------------------------- legal paths

BOOST_AUTO_TEST_CASE(pipeline_created_makes_a_fresh_state) {
  const auto spec = line_spec();
  event e;
  e.seq = 1;
  e.pipeline = "p-9";
  e.by = "user:ana";
  e.type = event_type::pipeline_created;
  e.spec = spec;
  auto s = apply(system_state{}, e);
  BOOST_REQUIRE_MESSAGE(s.ok(), describe(s));
  BOOST_CHECK(!s->empty());
  BOOST_CHECK_EQUAL(s->seq(), 1u);
  BOOST_CHECK_EQUAL(s->pipeline(), "p-9");
  BOOST_CHECK(s->spec_ptr() == spec);
  BOOST_CHECK(s->pending() == nullptr);
  BOOST_TEST(with_status(*s, stage_status::ready) == names{"a"}, boost::test_tools::per_element());
  BOOST_TEST(with_status(*s, stage_status::pending) == (names{"b", "c", "d"}), boost::test_tools::per_element());
  for (stage_index i = 0; i < s->size(); ++i) {
    BOOST_CHECK_EQUAL(s->stage(i).run, 0u);
    BOOST_CHECK_EQUAL(s->stage(i).attempt, 0u);
    BOOST_CHECK(s->payload(i).output == nullptr);
  }
  require_sound(*s, "pipeline_created");
}

BOOST_AUTO_TEST_CASE(a_line_runs_from_start_to_end) {
  history h(line_spec());
  for (const char* name : {"a", "b", "c", "d"}) {
    BOOST_TEST_CONTEXT("stage " << name) {
      BOOST_CHECK_EQUAL(h.status(name), stage_status::ready);
      const std::uint64_t run = h.start(name);
      BOOST_CHECK_EQUAL(run, h.seq());  // the run id is the seq of its start
      BOOST_CHECK_EQUAL(h.status(name), stage_status::running);
      BOOST_CHECK_EQUAL(h.stage(name).run, run);
      BOOST_CHECK_EQUAL(h.stage(name).attempt, 1u);
      BOOST_CHECK_EQUAL(h.stage(name).since, run);
      BOOST_CHECK(h.state().is_live_run(h.at(name), run));
      h.complete(name, json{{"made", name}});
      BOOST_CHECK_EQUAL(h.status(name), stage_status::completed);
      BOOST_CHECK_EQUAL(h.stage(name).since, h.seq());
      BOOST_CHECK(!h.state().is_live_run(h.at(name), run));
      BOOST_REQUIRE(h.state().payload(h.at(name)).output != nullptr);
      BOOST_CHECK_EQUAL(*h.state().payload(h.at(name)).output, (json{{"made", name}}));
    }
  }
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
  BOOST_CHECK_EQUAL(h.seq(), 9u);
}

BOOST_AUTO_TEST_CASE(a_failure_keeps_its_error_and_a_completion_clears_it) {
  history h(line_spec());
  h.start("a");
  h.fail("a", "exit status 3: boom");
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::failed);
  BOOST_REQUIRE(h.state().payload(h.at("a")).error != nullptr);
  BOOST_CHECK_EQUAL(*h.state().payload(h.at("a")).error, "exit status 3: boom");
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::pending);
  // A failed stage can be started again by hand; its completion clears the error.
  h.start("a");
  BOOST_CHECK_EQUAL(h.stage("a").attempt, 2u);
  h.complete("a");
  BOOST_CHECK(h.state().payload(h.at("a")).error == nullptr);
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::ready);
}

// ---------------------------------------------------------------- starts

BOOST_AUTO_TEST_CASE(a_start_with_an_upstream_not_completed_is_refused) {
  history h(line_spec());
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("b")), "stage 'b' cannot start: upstream 'a' is ready");
  h.start("a");
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("b")), "stage 'b' cannot start: upstream 'a' is running");
  h.fail("a");
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("b")), "stage 'b' cannot start: upstream 'a' is failed");
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("d")), "stage 'd' cannot start: upstream 'c' is pending");
  // In a diamond, one completed upstream is not enough.
  history d(diamond_spec());
  d.start("a");
  d.complete("a");
  d.start("b");
  d.complete("b");
  BOOST_CHECK_EQUAL(d.refuse(d.start_event("d")), "stage 'd' cannot start: upstream 'c' is ready");
}

BOOST_AUTO_TEST_CASE(a_start_while_a_confirmation_is_pending_is_blocked) {
  history h = gate_pending();
  // 'c' could start but for the pending confirmation; 'd' too once b is confirmed.
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("c"), errc::blocked), "blocked: waiting for confirmation: Is b right?");
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("d"), errc::blocked), "blocked: waiting for confirmation: Is b right?");
  BOOST_CHECK(startable(h.state()).empty());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::waiting);
  h.approve("b");
  BOOST_CHECK(h.state().pending() == nullptr);
  h.start("c");
  h.start("d");
}

BOOST_AUTO_TEST_CASE(a_run_started_before_the_confirmation_may_still_finish) {
  history h(gate_spec());
  h.start("a");
  h.complete("a");
  h.start("c");
  h.start("b");
  h.complete("b");
  h.request_confirmation("b", "Is b right?");
  // Only starts are blocked: the live run of 'c' completes, and 'b' confirmation stays.
  h.complete("c");
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::completed);
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->stage, h.at("b"));
}

BOOST_AUTO_TEST_CASE(a_second_start_is_refused) {
  history h(line_spec());
  const std::uint64_t run = h.start("a");
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("a")), "stage 'a' is already running (run " + std::to_string(run) + ")");
}

BOOST_AUTO_TEST_CASE(a_start_of_a_completed_stage_is_refused) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("a")), "stage 'a' is already completed");
}

BOOST_AUTO_TEST_CASE(a_start_with_a_stale_run_id_is_refused) {
  history h(line_spec());
  event e = h.start_event("a");
  e.run = e.seq - 1;
  BOOST_CHECK_EQUAL(h.refuse(e), "a start's run id must be fresh: the seq of its event (2), got 1");
  e.run = 0;
  BOOST_CHECK_EQUAL(h.refuse(e), "a start's run id must be fresh: the seq of its event (2), got 0");
  e.run = e.seq + 1;
  DAIRECTOR_CHECK_CONTAINS(h.refuse(e), "must be fresh");
}

BOOST_AUTO_TEST_CASE(starts_are_bounded) {
  history h(line_spec());
  for (std::uint32_t k = 0; k < stage_attempts_max; ++k) {
    h.start("a");
    h.interrupt("a");
  }
  BOOST_CHECK_EQUAL(h.stage("a").attempt, stage_attempts_max);
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("a")), "stage 'a' was started 1000 times, the limit");
  BOOST_CHECK(startable(h.state()).empty());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::failed);
}

// ---------------------------------------------------------------- results and run fencing

BOOST_AUTO_TEST_CASE(a_result_of_a_run_that_is_not_live_is_refused) {
  history h(line_spec());
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("a", 1)), "run 1 of stage 'a' is not live (stage is ready)");
  BOOST_CHECK_EQUAL(h.refuse(h.failed_event("b", 1)), "run 1 of stage 'b' is not live (stage is pending)");
  const std::uint64_t first = h.start("a");
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("a", first + 1)),
                    "run 3 of stage 'a' is not live (stage is running, live run 2)");
  BOOST_CHECK_EQUAL(h.refuse(h.failed_event("a", 1)), "run 1 of stage 'a' is not live (stage is running, live run 2)");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_interrupted, "a", 9)),
                    "run 9 of stage 'a' is not live (stage is running, live run 2)");
  // A run superseded by a restart is fenced.
  h.interrupt("a");
  const std::uint64_t second = h.start("a");
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("a", first)),
                    "run 2 of stage 'a' is not live (stage is running, live run " + std::to_string(second) + ")");
  h.complete("a");
  // A completed run cannot complete, fail or be interrupted again.
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("a", second)), "run 4 of stage 'a' is not live (stage is completed)");
  BOOST_CHECK_EQUAL(h.refuse(h.failed_event("a", second)), "run 4 of stage 'a' is not live (stage is completed)");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_interrupted, "a", second)),
                    "run 4 of stage 'a' is not live (stage is completed)");
}

BOOST_AUTO_TEST_CASE(a_completion_needs_an_output) {
  history h(line_spec());
  const std::uint64_t run = h.start("a");
  event e = h.completed_event("a", run);
  e.payload = nullptr;
  BOOST_CHECK_EQUAL(h.refuse(e), "stage_completed without an output");
}

BOOST_AUTO_TEST_CASE(an_interrupted_run_makes_the_stage_startable_again) {
  history h(line_spec());
  const std::uint64_t first = h.start("a");
  h.interrupt("a");
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::ready);
  BOOST_CHECK_EQUAL(h.stage("a").run, first);
  BOOST_CHECK_EQUAL(h.stage("a").attempt, 1u);
  BOOST_TEST(names_of(h.spec(), startable(h.state())) == names{"a"}, boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);
  const std::uint64_t second = h.start("a");
  BOOST_CHECK_GT(second, first);
  BOOST_CHECK_EQUAL(h.stage("a").attempt, 2u);
  // The interrupted run's late result is fenced; the new run's is applied.
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("a", first)),
                    "run 2 of stage 'a' is not live (stage is running, live run 4)");
  h.discard("a", first, "completed");
  h.complete("a");
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::completed);
}

// ---------------------------------------------------------------- cancels

BOOST_AUTO_TEST_CASE(a_cancel_of_a_completed_stage_says_so) {
  history h(line_spec());
  const std::uint64_t run = h.start("a");
  h.complete("a");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_cancelled, "a", run)), "stage 'a' is already completed");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_cancelled, "b", 0)), "stage 'b' is not running (it is ready)");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_cancelled, "c", 0)),
                    "stage 'c' is not running (it is pending)");
}

BOOST_AUTO_TEST_CASE(a_cancel_fences_the_run) {
  history h(line_spec());
  const std::uint64_t run = h.start("a");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_cancelled, "a", run + 1)),
                    "run 3 of stage 'a' is not live (stage is running, live run 2)");
  h.cancel("a");
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::cancelled);
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("a", run)), "run 2 of stage 'a' is not live (stage is cancelled)");
  BOOST_CHECK_EQUAL(h.refuse(h.run_event(event_type::stage_cancelled, "a", run)),
                    "stage 'a' is not running (it is cancelled)");
  h.discard("a", run, "completed");
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::cancelled);
  // A cancelled stage is not restarted by itself; the pipeline stands cancelled.
  BOOST_CHECK(startable(h.state()).empty());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::cancelled);
}

BOOST_AUTO_TEST_CASE(a_cancel_of_the_whole_pipeline) {
  history h(diamond_spec());
  h.start("a");
  h.complete("a");
  const std::uint64_t b_run = h.start("b");
  h.cancel_all();
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::completed);
  BOOST_TEST(with_status(h.state(), stage_status::cancelled) == (names{"b", "c", "d"}), boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::cancelled);
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("b", b_run)), "run 4 of stage 'b' is not live (stage is cancelled)");
  h.discard("b", b_run, "failed");
  BOOST_CHECK_EQUAL(h.refuse(h.make(event_type::stage_cancelled)),
                    "nothing to cancel: every stage is completed or cancelled");
}

BOOST_AUTO_TEST_CASE(a_cancel_of_the_whole_pipeline_after_a_cascade) {
  // Outdated stages are cancelled too, and keep no outdated cause.
  history h(line_spec());
  run_to_end(h);
  h.change_context("a");
  BOOST_TEST(with_status(h.state(), stage_status::outdated) == (names{"b", "c", "d"}), boost::test_tools::per_element());
  h.cancel_all();  // the history checks the invariants
  BOOST_TEST(with_status(h.state(), stage_status::cancelled) == (names{"b", "c", "d"}), boost::test_tools::per_element());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::cancelled);
}

// ---------------------------------------------------------------- result_discarded

BOOST_AUTO_TEST_CASE(result_discarded_rules) {
  history h(line_spec());
  const std::uint64_t run = h.start("a");
  auto discarded = [&](std::uint64_t r, std::string outcome_text) {
    event e = h.run_event(event_type::result_discarded, "a", r);
    e.text = std::move(outcome_text);
    return e;
  };
  BOOST_CHECK_EQUAL(h.refuse(discarded(0, "completed")), "result_discarded names run 0, which was never started");
  BOOST_CHECK_EQUAL(h.refuse(discarded(h.seq() + 1, "completed")),
                    "result_discarded names run 3, which was never started");
  BOOST_CHECK_EQUAL(h.refuse(discarded(run, "completed")),
                    "run 2 of stage 'a' is live: its result must be applied, not discarded");
  h.interrupt("a");
  BOOST_CHECK_EQUAL(h.refuse(discarded(run, "exploded")),
                    "result_discarded outcome must be \"completed\" or \"failed\", got 'exploded'");
  // A legal discard records the fact and changes no stage.
  const snapshot before(h.state());
  h.discard("a", run, "failed");
  h.discard("a", run, "completed");
  const snapshot after(h.state());
  BOOST_CHECK_EQUAL(after.seq, before.seq + 2);
  BOOST_CHECK(after.stages == before.stages);
  BOOST_CHECK(h.state().payload(h.at("a")).output == nullptr);
}

// ---------------------------------------------------------------- confirmations

BOOST_AUTO_TEST_CASE(a_resolution_with_nothing_pending_is_refused) {
  history h(gate_spec());
  BOOST_CHECK_EQUAL(h.refuse(h.resolved_event("b", true)), "no confirmation is pending");
  BOOST_CHECK_EQUAL(h.refuse(h.resolved_event("a", false)), "no confirmation is pending");
}

BOOST_AUTO_TEST_CASE(a_resolution_for_the_wrong_stage_is_refused) {
  history h = gate_pending();
  BOOST_CHECK_EQUAL(h.refuse(h.resolved_event("a", true)), "the pending confirmation is for stage 'b', not 'a'");
  BOOST_CHECK_EQUAL(h.refuse(h.resolved_event("d", false)), "the pending confirmation is for stage 'b', not 'd'");
}

BOOST_AUTO_TEST_CASE(a_confirmation_request_needs_a_reason) {
  history h(gate_spec());
  auto request = [&](std::string_view stage, std::string message) {
    event e = h.make(event_type::confirmation_requested, stage, "system");
    e.text = std::move(message);
    return e;
  };
  BOOST_CHECK_EQUAL(h.refuse(request("a", "Sure?")), "stage 'a' has nothing to confirm");
  BOOST_CHECK_EQUAL(h.refuse(request("b", "Is b right?")), "stage 'b' has nothing to confirm");  // not yet completed
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  BOOST_CHECK_EQUAL(h.refuse(request("b", "")), "confirmation_requested without a message");
  h.request_confirmation("b", "Is b right?");
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->message, "Is b right?");
  BOOST_CHECK_EQUAL(h.state().pending()->requested_seq, h.seq());
  BOOST_CHECK_EQUAL(h.refuse(request("b", "Again?")), "a confirmation is already pending: Is b right?");
  h.approve("b");
  BOOST_CHECK_EQUAL(h.refuse(request("b", "Is b right?")), "stage 'b' has nothing to confirm");  // already approved
  BOOST_CHECK(!next_system_event(h.state()).has_value());
}

BOOST_AUTO_TEST_CASE(an_approval_makes_downstream_startable) {
  history h(gate_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  // Completed but not approved: downstream waits, and says why.
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::pending);
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("d")), "stage 'd' cannot start: upstream 'b' is not confirmed");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);  // a confirmation is owed
  h.system_step();
  h.approve("b");
  BOOST_CHECK(h.stage("b").confirmed);
  BOOST_CHECK(h.state().pending() == nullptr);
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::ready);
  BOOST_TEST(names_of(h.spec(), startable(h.state())) == (names{"c", "d"}), boost::test_tools::per_element());
  run_to_end(h);
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
}

BOOST_AUTO_TEST_CASE(a_rejection_makes_the_stage_outdated_and_restartable) {
  history h = gate_pending();
  const std::uint64_t first = h.stage("b").run;
  h.reject("b");
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::outdated);
  BOOST_CHECK_EQUAL(h.stage("b").reason, outdated_reason::rejected);
  BOOST_CHECK_EQUAL(h.stage("b").cause, h.at("b"));
  BOOST_CHECK(!h.stage("b").confirmed);
  BOOST_CHECK(h.state().pending() == nullptr);
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::pending);
  BOOST_TEST(names_of(h.spec(), startable(h.state())) == (names{"b", "c"}), boost::test_tools::per_element());
  // The rejected output stays visible until the stage runs again.
  BOOST_CHECK(h.state().payload(h.at("b")).output != nullptr);
  const std::uint64_t second = h.start("b");
  BOOST_CHECK_GT(second, first);
  BOOST_CHECK_EQUAL(h.stage("b").attempt, 2u);
  BOOST_CHECK_EQUAL(h.stage("b").reason, outdated_reason::none);
  h.complete("b", json{{"take", 2}});
  BOOST_CHECK((h.system_step() == event_type::confirmation_requested));
  h.approve("b");
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::ready);
}

// ---------------------------------------------------------------- re-runs

BOOST_AUTO_TEST_CASE(a_rerun_request_must_follow_the_policy) {
  history h(example_spec());
  auto rerun = [&](std::string_view stage, std::string_view target) {
    event e = h.make(event_type::rerun_requested, stage, "system");
    e.rerun = h.at(target);
    return e;
  };
  BOOST_CHECK_EQUAL(h.refuse(rerun("execute", "handoff")), "stage 'execute' has no on_failure policy");
  BOOST_CHECK_EQUAL(h.refuse(rerun("validate", "handoff")),
                    "stage 'validate' re-runs 'execute', not the stage named by the event");
  BOOST_CHECK_EQUAL(h.refuse(rerun("validate", "execute")), "stage 'validate' is not failed (it is pending)");
}

// ---------------------------------------------------------------- sequence and identity

BOOST_AUTO_TEST_CASE(a_seq_gap_is_refused) {
  history h(line_spec());
  h.start("a");
  event e = h.start_event("b");
  e.seq = h.seq() + 2;
  BOOST_CHECK_EQUAL(h.refuse(e), "event seq 4 does not follow seq 2");
  e.seq = h.seq();
  BOOST_CHECK_EQUAL(h.refuse(e), "event seq 2 does not follow seq 2");
  event done = h.completed_event("a", 2);
  done.seq = 1;
  BOOST_CHECK_EQUAL(h.refuse(done), "event seq 1 does not follow seq 2");
}

BOOST_AUTO_TEST_CASE(an_event_for_another_pipeline_is_refused) {
  history h(line_spec());
  event e = h.start_event("a");
  e.pipeline = "p-2";
  BOOST_CHECK_EQUAL(h.refuse(e), "event for pipeline 'p-2' applied to pipeline 'p-1'");
  e.pipeline = "";
  BOOST_CHECK_EQUAL(h.refuse(e), "event for pipeline '' applied to pipeline 'p-1'");
}

BOOST_AUTO_TEST_CASE(events_before_pipeline_created_are_refused) {
  const auto spec = line_spec();
  for (int k = 1; k < event_type_count; ++k) {
    const auto t = static_cast<event_type>(k);
    BOOST_TEST_CONTEXT("event type " << to_string(t)) {
      event e;
      e.seq = 1;
      e.pipeline = "p-1";
      e.type = t;
      e.stage = 0;
      e.run = 1;
      auto r = apply(system_state{}, e);
      BOOST_REQUIRE(!r.ok());
      BOOST_CHECK_EQUAL(r.err().code, errc::refused);
      BOOST_CHECK_EQUAL(r.err().message, std::string(to_string(t)) + " before pipeline_created");
    }
  }
  event created;
  created.type = event_type::pipeline_created;
  created.pipeline = "p-1";
  created.seq = 2;
  created.spec = spec;
  auto late = apply(system_state{}, created);
  BOOST_REQUIRE(!late.ok());
  BOOST_CHECK_EQUAL(late.err().message, "pipeline_created must be seq 1, got 2");
  created.seq = 1;
  created.spec = nullptr;
  auto bare = apply(system_state{}, created);
  BOOST_REQUIRE(!bare.ok());
  BOOST_CHECK_EQUAL(bare.err().message, "pipeline_created without a spec");
  created.spec = spec;
  created.pipeline = "";
  auto nameless = apply(system_state{}, created);
  BOOST_REQUIRE(!nameless.ok());
  BOOST_CHECK_EQUAL(nameless.err().message, "pipeline_created without a pipeline id");
  // And only once.
  history h(spec);
  event again = h.make(event_type::pipeline_created);
  again.spec = spec;
  BOOST_CHECK_EQUAL(h.refuse(again), "pipeline 'p-1' already exists");
}

BOOST_AUTO_TEST_CASE(an_event_must_name_a_stage_of_the_pipeline) {
  history h(line_spec());
  event e = h.start_event("a");
  e.stage = 4;
  BOOST_CHECK_EQUAL(h.refuse(e), "stage index 4 is out of range");
  e.stage = no_stage;
  BOOST_CHECK_EQUAL(h.refuse(e), "stage_started without a stage");
  event ctx = h.make(event_type::context_changed, "a", "user:test");
  BOOST_CHECK_EQUAL(h.refuse(ctx), "context_changed without a context");
  ctx.stage = no_stage;
  ctx.payload = std::make_shared<const json>(json::object());
  BOOST_CHECK_EQUAL(h.refuse(ctx), "context_changed without a stage");
}

// ---------------------------------------------------------------- value semantics

BOOST_AUTO_TEST_CASE(applying_to_a_copy_leaves_the_original_unchanged) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  const std::uint64_t run = h.start("b");
  const system_state original = h.state();
  const snapshot before(original);
  const event done = h.completed_event("b", run, json{{"big", std::string(1000, 'x')}});

  auto next = apply(original, done);
  BOOST_REQUIRE_MESSAGE(next.ok(), describe(next));
  BOOST_CHECK(before.matches(original));
  BOOST_CHECK_EQUAL(original.status(h.at("b")), stage_status::running);
  BOOST_CHECK(original.payload(h.at("b")).output == nullptr);
  BOOST_CHECK_EQUAL(next->status(h.at("b")), stage_status::completed);
  // The original still equals the same history folded afresh (storage of its own).
  auto refolded = fold(h.events());
  BOOST_REQUIRE_MESSAGE(refolded.ok(), describe(refolded));
  BOOST_CHECK(same_facts(original, *refolded));
  BOOST_CHECK(!same_facts(original, *next));

  // Payloads are shared, not deep-copied: the new state holds the event's output,
  // and the outputs it did not change are the same objects as before.
  BOOST_CHECK(next->payload(h.at("b")).output.get() == done.payload.get());
  BOOST_CHECK(next->payload(h.at("a")).output.get() == original.payload(h.at("a")).output.get());
  BOOST_CHECK(next->spec_ptr() == original.spec_ptr());

  // A transition that changes no payload shares the whole payload table.
  event start_c = h.start_event("c");
  start_c.seq = next->seq() + 1;
  start_c.run = start_c.seq;
  auto after = apply(*next, start_c);
  BOOST_REQUIRE_MESSAGE(after.ok(), describe(after));
  BOOST_CHECK(&after->payload(0) == &next->payload(0));
  BOOST_CHECK(&after->stage(0) != &next->stage(0));  // the stage table was copied on write
  BOOST_CHECK_EQUAL(next->status(h.at("c")), stage_status::ready);
}

BOOST_AUTO_TEST_CASE(a_state_nobody_shares_is_updated_in_place_with_the_same_result) {
  history h(diamond_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  const event done = h.completed_event("b", h.live_run("b"));
  auto by_copy = apply(h.state(), done);
  BOOST_REQUIRE(by_copy.ok());

  auto fresh = fold(h.events());  // owned by nobody else
  BOOST_REQUIRE(fresh.ok());
  system_state mine = std::move(*fresh);
  const stage_state* table = &mine.stage(0);
  auto in_place = apply(std::move(mine), done);
  BOOST_REQUIRE(in_place.ok());
  BOOST_CHECK(same_facts(*in_place, *by_copy));
  BOOST_CHECK(&in_place->stage(0) == table);  // no copy was needed
  require_sound(*in_place, "an in-place completion");
}

BOOST_AUTO_TEST_CASE(a_refusal_leaves_a_shared_state_unchanged) {
  history h = gate_pending();
  const system_state kept = h.state();
  const snapshot before(kept);
  for (const event& e : {h.start_event("c"), h.completed_event("a", 2), h.resolved_event("a", true)}) {
    auto r = apply(kept, e);
    BOOST_CHECK(!r.ok());
  }
  BOOST_CHECK(before.matches(kept));
}

BOOST_AUTO_TEST_CASE(a_context_change_keeps_its_payload_on_the_stage) {
  history h(line_spec());
  run_to_end(h);
  const auto context = std::make_shared<const json>(json{{"focus", "api"}});
  event e = h.make(event_type::context_changed, "b", "user:ana");
  e.payload = context;
  h.push(e);
  BOOST_CHECK(h.state().payload(h.at("b")).context.get() == context.get());
  BOOST_CHECK(h.state().payload(h.at("a")).context == nullptr);
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::completed);  // the stage itself stays
}

// The invariants every test above relies on must themselves notice a torn
// state; states the reducer never makes are built with the editor.
BOOST_AUTO_TEST_CASE(the_invariants_notice_torn_states) {
  history h(gate_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  const system_state sound = h.state();
  BOOST_REQUIRE(check_invariants(sound).empty());
  auto broken = [&](auto edit) {
    state_editor ed(sound);
    edit(ed);
    return joined(check_invariants(std::move(ed).take()));
  };
  const stage_index a = h.at("a"), b = h.at("b"), c = h.at("c"), d = h.at("d");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             ed.stage(a).stored = run_status::failed;
                             ed.stage(c).stored = run_status::running;
                             ed.stage(c).run = 5;
                             ed.stage(c).attempt = 1;
                           }),
                           "stage 'c': running while upstream 'a' is failed");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             for (stage_index i : {c, d}) {
                               ed.stage(i).stored = run_status::running;
                               ed.stage(i).run = 5;
                               ed.stage(i).attempt = 1;
                             }
                           }),
                           "stage 'd': shares live run 5 with stage 'c'");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             ed.stage(a).stored = run_status::idle;
                           }),
                           "stage 'b': completed while upstream 'a' is ready");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) { ed.payload(b).output = nullptr; }),
                           "stage 'b': completed without an output");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) { ed.stage(b).stored = run_status::outdated; }),
                           "stage 'b': outdated without a reason");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) { ed.stage(a).confirmed = true; }),
                           "stage 'a': marked confirmed");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             ed.set_pending(std::make_shared<const confirmation>(confirmation{a, 3, "Why?"}));
                           }),
                           "stage 'a': has a pending confirmation it has no reason to ask");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             ed.set_pending(std::make_shared<const confirmation>(confirmation{b, 4, "Is b right?"}));
                             ed.stage(c).stored = run_status::running;
                             ed.stage(c).run = 5;
                             ed.stage(c).attempt = 1;
                           }),
                           "stage 'c': started (seq 5) while a confirmation was pending");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             ed.stage(c).stored = run_status::running;
                             ed.stage(c).run = 99;
                             ed.stage(c).attempt = 1;
                           }),
                           "stage 'c': run 99 is after the last seq");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) {
                             ed.stage(b).stored = run_status::outdated;
                             ed.stage(b).reason = outdated_reason::context;
                             ed.stage(b).cause = c;
                           }),
                           "stage 'b': outdated by a context change that is not upstream");
  DAIRECTOR_CHECK_CONTAINS(broken([&](state_editor& ed) { ed.stage(a).reruns = 1; }),
                           "stage 'a': has on_failure bookkeeping but no on_failure policy");
}

BOOST_AUTO_TEST_CASE(status_json_shows_the_state) {
  history h = gate_pending();
  const json j = state_to_json(h.state());
  BOOST_CHECK_EQUAL(j.at("pipeline"), "p-1");
  BOOST_CHECK_EQUAL(j.at("seq"), h.seq());
  BOOST_REQUIRE_EQUAL(j.at("stages").size(), 4u);
  BOOST_CHECK_EQUAL(j["stages"][0].at("name"), "a");
  BOOST_CHECK_EQUAL(j["stages"][0].at("status"), "completed");
  BOOST_CHECK_EQUAL(j["stages"][2].at("status"), "ready");
  BOOST_CHECK(j["stages"][2].at("run").is_null());
  BOOST_CHECK_EQUAL(j["stages"][3].at("status"), "pending");
  BOOST_CHECK_EQUAL(j["stages"][1].at("output"), *h.state().payload(1).output);
  BOOST_CHECK_EQUAL(j.at("pending_confirmation").at("stage"), "b");
  BOOST_CHECK_EQUAL(j.at("pending_confirmation").at("message"), "Is b right?");
  const json empty = state_to_json(system_state{});
  BOOST_CHECK(empty.at("pipeline").is_null());
  BOOST_CHECK(empty.at("stages").empty());
}

BOOST_AUTO_TEST_SUITE_END()
