// The validate → execute loop of the example (docs/spec.md#on_failure-re-run-an-upstream-stage),
// driven only by plan.hpp, as the supervisor drives it: owed system events
// first, then the startable stages. A failing validate re-runs execute at most
// max_attempts times; then a confirmation is asked; approve gives another
// round, reject gives up and the pipeline has failed.
#include <functional>
#include <string>
#include <vector>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// Decides a run: true completes it, false fails it.
using worker = std::function<bool(std::string_view stage, std::uint32_t attempt)>;

/// Runs the pipeline until nothing moves by itself: applies what the pipeline
/// owes (a re-run, a confirmation request), else starts the first startable
/// stage and finishes it as `works` says. Stops at a pending confirmation.
pipeline_outcome drive(history& h, const worker& works) {
  for (int step = 0; step < 1000; ++step) {
    if (h.state().pending()) return outcome(h.state());
    if (h.system_step()) continue;
    const auto ready = startable(h.state());
    if (ready.empty()) return outcome(h.state());
    const std::string name = h.spec()[ready.front()].name;
    h.start(name);
    if (works(name, h.stage(name).attempt)) h.complete(name, json{{"stage", name}, {"attempt", h.stage(name).attempt}});
    else h.fail(name, name + " failed on attempt " + std::to_string(h.stage(name).attempt));
  }
  BOOST_FAIL("the pipeline did not settle within the step budget");
  return outcome(h.state());
}

/// validate fails its first `times` attempts, like the `fail` builtin.
worker validate_fails(std::uint32_t times) {
  return [times](std::string_view stage, std::uint32_t attempt) { return stage != "validate" || attempt > times; };
}

/// The example up to its first confirmation (analyze's), approved.
history example_past_analyze(const worker& works) {
  history h(example_spec());
  BOOST_REQUIRE_EQUAL(drive(h, works), pipeline_outcome::waiting);
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->stage, h.at("analyze"));
  BOOST_CHECK_EQUAL(h.state().pending()->message, "Approve the design before slicing?");
  h.approve("analyze");
  return h;
}

std::size_t count_of(const history& h, event_type t) {
  std::size_t n = 0;
  for (const event& e : h.events()) n += e.type == t;
  return n;
}

const std::string exhausted_message =
    "stage 'validate' failed 4 times (3 re-runs from 'execute'): approve to try again, reject to give up";

}  // namespace

BOOST_AUTO_TEST_SUITE(validation_loop)

BOOST_AUTO_TEST_CASE(one_failure_reruns_execute_and_then_completes) {
  history h = example_past_analyze(validate_fails(1));
  BOOST_CHECK_EQUAL(drive(h, validate_fails(1)), pipeline_outcome::done);
  BOOST_CHECK_EQUAL(h.stage("execute").attempt, 2u);
  BOOST_CHECK_EQUAL(h.stage("validate").attempt, 2u);
  BOOST_CHECK_EQUAL(h.stage("validate").reruns, 0u);  // a completion resets the loop
  BOOST_CHECK_EQUAL(h.stage("handoff").attempt, 1u);  // above the loop nothing ran again
  BOOST_CHECK_EQUAL(count_of(h, event_type::rerun_requested), 1u);
  BOOST_CHECK_EQUAL(count_of(h, event_type::confirmation_requested), 1u);  // only analyze's
  // Right after the re-run request, execute and validate were outdated by the loop.
  for (const event& e : h.events()) {
    if (e.type != event_type::rerun_requested) continue;
    BOOST_CHECK_EQUAL(e.stage, h.at("validate"));
    BOOST_CHECK_EQUAL(e.rerun, h.at("execute"));
    BOOST_CHECK_EQUAL(e.by, "system");
    const system_state& after = h.states()[e.seq];
    for (const char* name : {"execute", "validate"}) {
      BOOST_TEST_CONTEXT(name) {
        BOOST_CHECK_EQUAL(after.status(h.at(name)), stage_status::outdated);
        BOOST_CHECK_EQUAL(after.stage(h.at(name)).reason, outdated_reason::rerun);
        BOOST_CHECK_EQUAL(after.stage(h.at(name)).cause, h.at("validate"));
      }
    }
    BOOST_CHECK_EQUAL(after.stage(h.at("validate")).reruns, 1u);
    BOOST_TEST(names_of(h.spec(), startable(after)) == names{"execute"}, boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(exhaustion_after_max_attempts_requests_a_confirmation) {
  const worker never = validate_fails(1000);
  history h = example_past_analyze(never);
  BOOST_CHECK_EQUAL(drive(h, never), pipeline_outcome::waiting);
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->stage, h.at("validate"));
  BOOST_CHECK_EQUAL(h.state().pending()->message, exhausted_message);
  BOOST_CHECK_EQUAL(h.status("validate"), stage_status::failed);
  BOOST_CHECK_EQUAL(h.stage("validate").reruns, 3u);
  BOOST_CHECK_EQUAL(h.stage("validate").attempt, 4u);  // the first run and three re-runs
  BOOST_CHECK_EQUAL(h.stage("execute").attempt, 4u);
  BOOST_CHECK_EQUAL(count_of(h, event_type::rerun_requested), 3u);
  // While it is pending, nothing starts and nothing more is owed.
  BOOST_CHECK(startable(h.state()).empty());
  BOOST_CHECK(!next_system_event(h.state()).has_value());
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("validate"), errc::blocked), "blocked: waiting for confirmation: " + exhausted_message);
  // A fourth re-run is refused even if asked for.
  event more = h.make(event_type::rerun_requested, "validate", "system");
  more.rerun = h.at("execute");
  BOOST_CHECK_EQUAL(h.refuse(more), "stage 'validate' has used its 3 re-runs");
}

BOOST_AUTO_TEST_CASE(an_approval_gives_another_round) {
  const worker never = validate_fails(1000);
  history h = example_past_analyze(never);
  BOOST_REQUIRE_EQUAL(drive(h, never), pipeline_outcome::waiting);
  h.approve("validate");
  BOOST_CHECK(h.state().pending() == nullptr);
  BOOST_CHECK_EQUAL(h.stage("validate").reruns, 0u);
  BOOST_CHECK_EQUAL(h.status("validate"), stage_status::failed);
  const auto owed = next_system_event(h.state());
  BOOST_REQUIRE(owed.has_value());
  BOOST_CHECK_EQUAL(owed->type, event_type::rerun_requested);
  BOOST_CHECK_EQUAL(owed->rerun, h.at("execute"));
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);
  // A whole new round of three re-runs, then the question again.
  BOOST_CHECK_EQUAL(drive(h, never), pipeline_outcome::waiting);
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->stage, h.at("validate"));
  BOOST_CHECK_EQUAL(h.stage("validate").attempt, 7u);
  BOOST_CHECK_EQUAL(h.stage("execute").attempt, 7u);
  BOOST_CHECK_EQUAL(count_of(h, event_type::rerun_requested), 6u);
}

BOOST_AUTO_TEST_CASE(an_approval_then_a_success_completes_the_pipeline) {
  const worker fails_four = validate_fails(4);
  history h = example_past_analyze(fails_four);
  BOOST_REQUIRE_EQUAL(drive(h, fails_four), pipeline_outcome::waiting);
  h.approve("validate");
  BOOST_CHECK_EQUAL(drive(h, fails_four), pipeline_outcome::done);
  BOOST_CHECK_EQUAL(h.stage("validate").attempt, 5u);
  BOOST_CHECK_EQUAL(h.stage("validate").reruns, 0u);
  BOOST_CHECK(!h.stage("validate").given_up);
  BOOST_CHECK_EQUAL(count_of(h, event_type::rerun_requested), 4u);
}

BOOST_AUTO_TEST_CASE(a_rejection_gives_up_and_the_pipeline_has_failed) {
  const worker never = validate_fails(1000);
  history h = example_past_analyze(never);
  BOOST_REQUIRE_EQUAL(drive(h, never), pipeline_outcome::waiting);
  h.reject("validate");
  BOOST_CHECK(h.state().pending() == nullptr);
  BOOST_CHECK(h.stage("validate").given_up);
  BOOST_CHECK_EQUAL(h.status("validate"), stage_status::failed);
  BOOST_CHECK(!next_system_event(h.state()).has_value());
  BOOST_CHECK(startable(h.state()).empty());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::failed);
  BOOST_CHECK_EQUAL(drive(h, never), pipeline_outcome::failed);
  event more = h.make(event_type::rerun_requested, "validate", "system");
  more.rerun = h.at("execute");
  BOOST_CHECK_EQUAL(h.refuse(more), "stage 'validate' has used its 3 re-runs");
  // Only a person can try again, by starting the stage by hand.
  h.start("validate");
  BOOST_CHECK(!h.stage("validate").given_up);
  h.complete("validate");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
}

BOOST_AUTO_TEST_CASE(a_rerun_outdates_everything_fed_by_the_rerun_stage) {
  // prep feeds build → test (the loop) and docs beside it; one re-run allowed.
  history h(must_parse(R"({"name": "loop", "stages": [
    {"name": "prep", "run": {"builtin": "echo"}},
    {"name": "build", "after": ["prep"], "run": {"builtin": "echo"}},
    {"name": "docs", "after": ["prep"], "run": {"builtin": "echo"}},
    {"name": "test", "after": ["build"], "run": {"builtin": "fail", "times": 9},
     "on_failure": {"rerun": "prep", "max_attempts": 1}}]})"));
  const worker never = [](std::string_view stage, std::uint32_t) { return stage != "test"; };
  h.start("prep");
  h.complete("prep");
  h.start("docs");
  h.complete("docs");
  h.start("build");
  h.complete("build");
  h.start("test");
  h.fail("test");
  BOOST_REQUIRE((h.system_step() == event_type::rerun_requested));
  BOOST_TEST(with_status(h.state(), stage_status::outdated) == (names{"prep", "build", "docs", "test"}),
             boost::test_tools::per_element());
  for (stage_index i = 0; i < h.state().size(); ++i) {
    BOOST_CHECK_EQUAL(h.state().stage(i).reason, outdated_reason::rerun);
    BOOST_CHECK_EQUAL(h.state().stage(i).cause, h.at("test"));
  }
  BOOST_CHECK_EQUAL(drive(h, never), pipeline_outcome::waiting);
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->message,
                    "stage 'test' failed 2 times (1 re-runs from 'prep'): approve to try again, reject to give up");
  for (const char* name : {"prep", "build", "docs", "test"}) BOOST_CHECK_EQUAL(h.stage(name).attempt, 2u);
}

BOOST_AUTO_TEST_SUITE_END()
