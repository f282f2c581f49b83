// Policy (plan.hpp): which stages the driver starts, what the pipeline owes by
// itself, how the pipeline stands, and what a stage handler receives.
#include <string>
#include <vector>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

names startable_names(const history& h) { return names_of(h.spec(), startable(h.state())); }

}  // namespace

BOOST_AUTO_TEST_SUITE(plan)

// ---------------------------------------------------------------- startable

BOOST_AUTO_TEST_CASE(parallel_branches_are_startable_together) {
  history h(diamond_spec());
  BOOST_TEST(startable_names(h) == names{"a"}, boost::test_tools::per_element());
  h.start("a");
  BOOST_TEST(startable_names(h).empty());
  h.complete("a");
  BOOST_TEST(startable_names(h) == (names{"b", "c"}), boost::test_tools::per_element());
  h.start("b");
  BOOST_TEST(startable_names(h) == names{"c"}, boost::test_tools::per_element());
  h.start("c");
  BOOST_TEST(startable_names(h).empty());
  h.complete("b");
  BOOST_TEST(startable_names(h).empty());  // d needs c too
  h.complete("c");
  BOOST_TEST(startable_names(h) == names{"d"}, boost::test_tools::per_element());
  h.start("d");
  h.complete("d");
  BOOST_TEST(startable_names(h).empty());
}

BOOST_AUTO_TEST_CASE(a_wide_fan_out_starts_every_leaf_and_joins_last) {
  history h(fan_out_spec());
  h.start("src");
  h.complete("src");
  names leaves;
  for (int k = 0; k < fan_width; ++k) leaves.push_back(leaf(k));
  BOOST_TEST(startable_names(h) == leaves, boost::test_tools::per_element());
  for (int k = 0; k < fan_width; ++k) h.start(leaf(k));
  BOOST_TEST(startable_names(h).empty());
  for (int k = fan_width - 1; k >= 1; --k) h.complete(leaf(k));
  BOOST_TEST(startable_names(h).empty());  // f00 still runs
  h.complete(leaf(0));
  BOOST_TEST(startable_names(h) == names{"join"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(failed_and_cancelled_stages_are_not_restarted_by_themselves) {
  history h(fan_out_spec());
  h.start("src");
  h.complete("src");
  h.start(leaf(0));
  h.fail(leaf(0));
  h.start(leaf(1));
  h.cancel(leaf(1));
  h.start(leaf(2));
  h.interrupt(leaf(2));  // interrupted: idle again, so startable
  names expected;
  for (int k = 2; k < fan_width; ++k) expected.push_back(leaf(k));
  BOOST_TEST(startable_names(h) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(outdated_stages_are_startable_once_their_upstream_is_done) {
  history h(line_spec());
  run_to_end(h);
  h.change_context("a");
  BOOST_TEST(with_status(h.state(), stage_status::outdated) == (names{"b", "c", "d"}), boost::test_tools::per_element());
  BOOST_TEST(startable_names(h) == names{"b"}, boost::test_tools::per_element());
  h.start("b");
  h.complete("b");
  BOOST_TEST(startable_names(h) == names{"c"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(nothing_is_startable_while_a_confirmation_is_pending) {
  history h(example_spec());
  BOOST_TEST(startable(system_state{}).empty());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  BOOST_TEST(startable_names(h).empty());  // slice waits for the approval, not yet asked
  h.system_step();
  BOOST_TEST(startable_names(h).empty());
  h.approve("analyze");
  BOOST_TEST(startable_names(h) == names{"slice"}, boost::test_tools::per_element());
}

// ---------------------------------------------------------------- next_system_event

BOOST_AUTO_TEST_CASE(the_owed_system_event) {
  BOOST_CHECK(!next_system_event(system_state{}).has_value());
  history h(example_spec());
  BOOST_CHECK(!next_system_event(h.state()).has_value());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  const auto ask = next_system_event(h.state());
  BOOST_REQUIRE(ask.has_value());
  BOOST_CHECK_EQUAL(ask->type, event_type::confirmation_requested);
  BOOST_CHECK_EQUAL(ask->stage, h.at("analyze"));
  BOOST_CHECK_EQUAL(ask->text, "Approve the design before slicing?");
  // The caller fills who, when, which pipeline and seq.
  BOOST_CHECK_EQUAL(ask->seq, 0u);
  BOOST_CHECK(ask->by.empty());
  BOOST_CHECK(ask->pipeline.empty());
  h.system_step();
  BOOST_CHECK(!next_system_event(h.state()).has_value());  // at most one at a time
  h.approve("analyze");
  BOOST_CHECK(!next_system_event(h.state()).has_value());
  for (const char* stage : {"slice", "handoff", "execute", "validate"}) {
    h.start(stage);
    h.complete(stage);
  }
  BOOST_CHECK(!next_system_event(h.state()).has_value());
  // A failure with a policy owes a re-run; without one, nothing.
  history f(example_spec());
  f.start("idea");
  f.fail("idea");
  BOOST_CHECK(!next_system_event(f.state()).has_value());
}

BOOST_AUTO_TEST_CASE(a_rerun_is_owed_for_a_failed_stage_with_a_policy) {
  history h(example_spec());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  h.system_step();
  h.approve("analyze");
  for (const char* stage : {"slice", "handoff", "execute"}) {
    h.start(stage);
    h.complete(stage);
  }
  h.start("validate");
  h.fail("validate");
  const auto owed = next_system_event(h.state());
  BOOST_REQUIRE(owed.has_value());
  BOOST_CHECK_EQUAL(owed->type, event_type::rerun_requested);
  BOOST_CHECK_EQUAL(owed->stage, h.at("validate"));
  BOOST_CHECK_EQUAL(owed->rerun, h.at("execute"));
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);
}

// ---------------------------------------------------------------- outcome

BOOST_AUTO_TEST_CASE(outcome_names) {
  BOOST_CHECK_EQUAL(std::string(to_string(pipeline_outcome::active)), "active");
  BOOST_CHECK_EQUAL(std::string(to_string(pipeline_outcome::waiting)), "waiting");
  BOOST_CHECK_EQUAL(std::string(to_string(pipeline_outcome::done)), "done");
  BOOST_CHECK_EQUAL(std::string(to_string(pipeline_outcome::failed)), "failed");
  BOOST_CHECK_EQUAL(std::string(to_string(pipeline_outcome::cancelled)), "cancelled");
}

BOOST_AUTO_TEST_CASE(outcome_active_while_anything_can_move) {
  BOOST_CHECK_EQUAL(outcome(system_state{}), pipeline_outcome::active);
  history h(diamond_spec());
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);  // a can start
  h.start("a");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);  // a runs
  h.complete("a");
  h.start("b");
  h.fail("b");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);  // c can still start
  h.start("c");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);  // c runs
  h.complete("c");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::failed);  // d can never start
}

BOOST_AUTO_TEST_CASE(outcome_waiting_at_a_confirmation) {
  history h(example_spec());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);  // the request is owed
  h.system_step();
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::waiting);
  h.approve("analyze");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);
}

BOOST_AUTO_TEST_CASE(outcome_done_only_when_every_stage_is_completed_and_approved) {
  history h(example_spec());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  h.system_step();
  h.approve("analyze");
  for (const char* stage : {"slice", "handoff", "execute"}) {
    h.start(stage);
    h.complete(stage);
  }
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);
  h.start("validate");
  h.complete("validate");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
  // A single stage that asks: completed is not done until approved.
  history one(must_parse(R"({"name": "one", "stages": [
    {"name": "only", "run": {"builtin": "echo"}, "confirm": "Keep it?"}]})"));
  one.start("only");
  one.complete("only");
  BOOST_CHECK_EQUAL(outcome(one.state()), pipeline_outcome::active);
  one.system_step();
  BOOST_CHECK_EQUAL(outcome(one.state()), pipeline_outcome::waiting);
  one.approve("only");
  BOOST_CHECK_EQUAL(outcome(one.state()), pipeline_outcome::done);
}

BOOST_AUTO_TEST_CASE(outcome_failed_and_cancelled) {
  history h(line_spec());
  h.start("a");
  h.fail("a");
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::failed);
  h.cancel_all();
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::cancelled);
  // When one branch failed and another was cancelled, the cancel is what stopped it.
  history d(diamond_spec());
  d.start("a");
  d.complete("a");
  d.start("b");
  d.fail("b");
  d.start("c");
  d.cancel("c");
  BOOST_CHECK_EQUAL(outcome(d.state()), pipeline_outcome::cancelled);
}

// ---------------------------------------------------------------- handler_input

BOOST_AUTO_TEST_CASE(handler_input_carries_the_run_and_the_direct_inputs) {
  history h(diamond_spec());
  const std::uint64_t a_run = h.start("a");
  BOOST_CHECK_EQUAL(handler_input(h.state(), h.at("a")).dump(),
                    json({{"pipeline", "p-1"}, {"stage", "a"}, {"run", a_run}, {"attempt", 1},
                          {"context", json::object()}, {"input", nullptr}, {"inputs", json::object()}})
                        .dump());
  h.complete("a", json{{"from", "a"}});
  h.start("b");
  h.complete("b", json::array({1, 2, 3}));
  h.start("c");
  h.complete("c", json("text from c"));
  h.change_context("d", json{{"hint", "be brief"}});
  const std::uint64_t first = h.start("d");
  h.interrupt("d");
  const std::uint64_t second = h.start("d");
  BOOST_CHECK_GT(second, first);
  const json expected = {{"pipeline", "p-1"},
                         {"stage", "d"},
                         {"run", second},
                         {"attempt", 2},
                         {"context", {{"hint", "be brief"}}},
                         {"input", nullptr},
                         {"inputs", {{"b", {1, 2, 3}}, {"c", "text from c"}}}};
  // Only the direct upstream ('b' and 'c', not 'a') feed d.
  BOOST_CHECK_EQUAL(handler_input(h.state(), h.at("d")).dump(), expected.dump());
}

// `input` is the pipeline's, given at creation: the same for every stage and
// every run, beside `inputs` (the upstream outputs by name), and it survives
// a rollback to before any stage ran.
BOOST_AUTO_TEST_CASE(handler_input_carries_the_pipeline_input_to_every_stage) {
  const auto given = std::make_shared<const json>(json{{"topic", "retries"}, {"n", 3}});
  history h(diamond_spec(), "p-in", given);
  h.start("a");
  BOOST_CHECK_EQUAL(handler_input(h.state(), h.at("a")).at("input"), *given);
  h.complete("a", json{{"from", "a"}});
  h.start("b");
  const json b = handler_input(h.state(), h.at("b"));
  BOOST_CHECK_EQUAL(b.at("input"), *given);
  BOOST_CHECK_EQUAL(b.at("inputs"), (json{{"a", {{"from", "a"}}}}));
  h.roll_back(1);
  BOOST_CHECK_EQUAL(handler_input(h.state(), h.at("a")).at("input"), *given);
  BOOST_CHECK_EQUAL(state_to_json(h.state()).at("input"), *given);
  BOOST_CHECK(!state_to_json(history(diamond_spec()).state()).contains("input"));
}

BOOST_AUTO_TEST_CASE(handler_input_of_the_example) {
  history h(example_spec(), "run-42");
  h.change_context("idea", json{{"idea", "a pipeline runner"}});
  const std::uint64_t run = h.start("idea");
  const json in = handler_input(h.state(), h.at("idea"));
  BOOST_CHECK_EQUAL(in.at("pipeline"), "run-42");
  BOOST_CHECK_EQUAL(in.at("stage"), "idea");
  BOOST_CHECK_EQUAL(in.at("run"), run);
  BOOST_CHECK_EQUAL(in.at("attempt"), 1);
  BOOST_CHECK_EQUAL(in.at("context"), (json{{"idea", "a pipeline runner"}}));
  BOOST_CHECK(in.at("inputs").empty());
  h.complete("idea", json{{"pitch", "fast"}});
  h.start("analyze");
  const json next = handler_input(h.state(), h.at("analyze"));
  BOOST_CHECK_EQUAL(next.at("inputs"), (json{{"idea", {{"pitch", "fast"}}}}));
  BOOST_CHECK_EQUAL(next.at("context"), json::object());  // idea's context is not analyze's
}

BOOST_AUTO_TEST_SUITE_END()
