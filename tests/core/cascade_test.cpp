// The invalidation cascade (docs/design.md#rule-7-the-cascade): a context change on S makes
// exactly the stages strictly downstream of S outdated; running ones are fenced
// (their results are refused as not live); S, its upstream and its siblings are
// untouched; a pending confirmation about an outdated stage is dropped.
#include <algorithm>
#include <string>
#include <vector>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// Checks that after a context change on `changed`, exactly `outdated` are
/// outdated by it and every other stage kept its status from `before`.
void check_cascade(const system_state& before, const system_state& after, std::string_view changed,
                   const names& outdated) {
  const pipeline_spec& sp = after.spec();
  const stage_index cause = sp.find(changed);
  for (stage_index i = 0; i < sp.size(); ++i) {
    const std::string& name = sp[i].name;
    BOOST_TEST_CONTEXT("change on '" << changed << "', stage '" << name << "'") {
      const bool expected = std::find(outdated.begin(), outdated.end(), name) != outdated.end();
      const bool had_run = before.stage(i).stored == run_status::running ||
                           before.stage(i).stored == run_status::completed ||
                           before.stage(i).stored == run_status::failed;
      if (expected && had_run) {
        BOOST_CHECK_EQUAL(after.status(i), stage_status::outdated);
        BOOST_CHECK_EQUAL(after.stage(i).reason, outdated_reason::context);
        BOOST_CHECK_EQUAL(after.stage(i).cause, cause);
        BOOST_CHECK_EQUAL(after.stage(i).since, after.seq());
        BOOST_CHECK(!after.stage(i).confirmed);
        // The run id and attempt count survive: the next start is a new attempt.
        BOOST_CHECK_EQUAL(after.stage(i).run, before.stage(i).run);
        BOOST_CHECK_EQUAL(after.stage(i).attempt, before.stage(i).attempt);
      } else {
        BOOST_CHECK_EQUAL(after.status(i), before.status(i));
        BOOST_CHECK(after.stage(i).stored == before.stage(i).stored);
        BOOST_CHECK_EQUAL(after.stage(i).run, before.stage(i).run);
      }
    }
  }
}

/// A change on every stage in turn, each from the same state `h`.
void check_every_change(const history& h, const std::vector<std::pair<std::string, names>>& expected) {
  for (const auto& [changed, outdated] : expected) {
    history branch = h;
    branch.change_context(changed, json{{"why", "change on " + changed}});
    check_cascade(h.state(), branch.state(), changed, outdated);
    BOOST_REQUIRE(branch.state().payload(branch.at(changed)).context != nullptr);
    BOOST_CHECK_EQUAL(branch.state().payload(branch.at(changed)).context->at("why"), "change on " + changed);
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cascade)

// ---------------------------------------------------------------- exactly the strict downstream

BOOST_AUTO_TEST_CASE(on_a_line) {
  history h(line_spec());
  run_to_end(h);
  check_every_change(h, {{"a", {"b", "c", "d"}}, {"b", {"c", "d"}}, {"c", {"d"}}, {"d", {}}});
}

BOOST_AUTO_TEST_CASE(on_a_diamond) {
  history h(diamond_spec());
  run_to_end(h);
  check_every_change(h, {{"a", {"b", "c", "d"}}, {"b", {"d"}}, {"c", {"d"}}, {"d", {}}});
}

BOOST_AUTO_TEST_CASE(on_a_wide_fan_out) {
  history h(fan_out_spec());
  run_to_end(h);
  names every_leaf_and_join;
  for (int k = 0; k < fan_width; ++k) every_leaf_and_join.push_back(leaf(k));
  every_leaf_and_join.push_back("join");
  std::vector<std::pair<std::string, names>> expected = {{"src", every_leaf_and_join}, {"join", {}}};
  for (int k = 0; k < fan_width; ++k) expected.push_back({leaf(k), {"join"}});
  check_every_change(h, expected);
}

BOOST_AUTO_TEST_CASE(matches_the_transitive_downstream_of_the_example) {
  history h(example_spec());
  for (int guard = 0; guard < 100 && outcome(h.state()) != pipeline_outcome::done; ++guard) {
    if (h.system_step()) {
      if (h.state().pending()) h.approve(h.spec()[h.state().pending()->stage].name);
      continue;
    }
    for (stage_index i : startable(h.state())) {
      h.start(h.spec()[i].name);
      h.complete(h.spec()[i].name);
    }
  }
  BOOST_REQUIRE_EQUAL(outcome(h.state()), pipeline_outcome::done);
  check_every_change(h, {{"idea", {"analyze", "slice", "handoff", "execute", "validate"}},
                         {"analyze", {"slice", "handoff", "execute", "validate"}},
                         {"handoff", {"execute", "validate"}},
                         {"validate", {}}});
}

// ---------------------------------------------------------------- running stages are fenced

BOOST_AUTO_TEST_CASE(a_running_stage_downstream_is_fenced) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  const std::uint64_t c_run = h.start("c");
  const system_state before = h.state();
  h.change_context("a");
  check_cascade(before, h.state(), "a", {"b", "c", "d"});
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::outdated);
  BOOST_CHECK(!h.state().is_live_run(h.at("c"), c_run));
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::pending);  // never ran: nothing to outdate
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::completed);
  // The fenced run's late result is refused, then recorded as discarded.
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("c", c_run)), "run 6 of stage 'c' is not live (stage is outdated)");
  BOOST_CHECK_EQUAL(h.refuse(h.failed_event("c", c_run)), "run 6 of stage 'c' is not live (stage is outdated)");
  h.discard("c", c_run, "completed");
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::outdated);
  // Everything outdated runs again, in order, and the pipeline completes.
  BOOST_TEST(names_of(h.spec(), startable(h.state())) == names{"b"}, boost::test_tools::per_element());
  run_to_end(h);
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
  BOOST_CHECK_EQUAL(h.stage("b").attempt, 2u);
  BOOST_CHECK_EQUAL(h.stage("c").attempt, 2u);
  BOOST_CHECK_EQUAL(h.stage("d").attempt, 1u);
}

BOOST_AUTO_TEST_CASE(a_sibling_running_beside_the_change_is_untouched) {
  history h(diamond_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  const std::uint64_t c_run = h.start("c");
  const system_state before = h.state();
  h.change_context("b");
  check_cascade(before, h.state(), "b", {"d"});
  BOOST_CHECK(h.state().is_live_run(h.at("c"), c_run));
  h.complete("c");  // still live
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::ready);
  // Now d runs, and a change on c fences it while b stays completed.
  const std::uint64_t d_run = h.start("d");
  h.change_context("c");
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::outdated);
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::completed);
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::completed);
  DAIRECTOR_CHECK_CONTAINS(h.refuse(h.completed_event("d", d_run)), "is not live (stage is outdated)");
}

BOOST_AUTO_TEST_CASE(a_wide_fan_out_fences_every_running_leaf) {
  history h(fan_out_spec());
  h.start("src");
  h.complete("src");
  std::vector<std::uint64_t> runs;
  for (int k = 0; k < fan_width; ++k) runs.push_back(h.start(leaf(k)));
  for (int k = 0; k < fan_width / 2; ++k) h.complete(leaf(k));
  const system_state before = h.state();
  names leaves;
  for (int k = 0; k < fan_width; ++k) leaves.push_back(leaf(k));
  h.change_context("src");
  check_cascade(before, h.state(), "src", leaves);
  BOOST_CHECK_EQUAL(h.status("join"), stage_status::pending);
  for (int k = fan_width / 2; k < fan_width; ++k) {
    BOOST_TEST_CONTEXT("leaf " << leaf(k)) {
      DAIRECTOR_CHECK_CONTAINS(h.refuse(h.completed_event(leaf(k), runs[std::size_t(k)])),
                               "is not live (stage is outdated)");
    }
  }
  BOOST_CHECK_EQUAL(startable(h.state()).size(), std::size_t(fan_width));
  run_to_end(h);
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
  for (int k = 0; k < fan_width; ++k) BOOST_CHECK_EQUAL(h.stage(leaf(k)).attempt, 2u);
}

// ---------------------------------------------------------------- never upstream

BOOST_AUTO_TEST_CASE(the_changed_stage_and_its_upstream_are_untouched) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  const std::uint64_t b_run = h.start("b");
  // A change on a running stage does not fence the stage itself.
  h.change_context("b");
  BOOST_CHECK(h.state().is_live_run(h.at("b"), b_run));
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::completed);
  h.complete("b");
  h.start("c");
  h.complete("c");
  h.change_context("c");
  BOOST_CHECK_EQUAL(h.status("a"), stage_status::completed);
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::completed);
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::completed);
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::ready);
}

BOOST_AUTO_TEST_CASE(failed_stages_are_outdated_and_idle_or_cancelled_ones_are_left) {
  history h(diamond_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.fail("b");
  const std::uint64_t c_run = h.start("c");
  h.cancel("c");
  h.change_context("a");
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::outdated);  // failed, now stale too
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::cancelled);  // a cancel stands
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::pending);
  BOOST_CHECK(!h.state().is_live_run(h.at("c"), c_run));
}

BOOST_AUTO_TEST_CASE(a_second_cascade_over_outdated_stages_keeps_them_outdated) {
  history h(line_spec());
  run_to_end(h);
  h.change_context("b");
  h.change_context("a");
  BOOST_TEST(with_status(h.state(), stage_status::outdated) == (names{"b", "c", "d"}), boost::test_tools::per_element());
  const json status = state_to_json(h.state());
  BOOST_CHECK_EQUAL(status["stages"][1].at("outdated_by"), "a");
  run_to_end(h);
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
}

// ---------------------------------------------------------------- confirmations

BOOST_AUTO_TEST_CASE(a_pending_confirmation_on_an_outdated_stage_is_dropped) {
  history h(example_spec());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  BOOST_REQUIRE((h.system_step() == event_type::confirmation_requested));
  BOOST_REQUIRE(h.state().pending() != nullptr);
  // A context change is not a start: it is not blocked by the confirmation.
  h.change_context("idea", json{{"scope", "smaller"}});
  BOOST_CHECK_EQUAL(h.status("analyze"), stage_status::outdated);
  BOOST_CHECK(h.state().pending() == nullptr);
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::active);
  h.start("analyze");  // not blocked any more
  h.complete("analyze");
  BOOST_CHECK((h.system_step() == event_type::confirmation_requested));
}

BOOST_AUTO_TEST_CASE(a_pending_confirmation_elsewhere_is_kept) {
  history h(example_spec());
  h.start("idea");
  h.complete("idea");
  h.start("analyze");
  h.complete("analyze");
  h.system_step();
  // A change on the confirming stage itself outdates only what is below it.
  h.change_context("analyze");
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->stage, h.at("analyze"));
  BOOST_CHECK_EQUAL(h.status("analyze"), stage_status::completed);
  // In the gate, a change on b's sibling leaves b's confirmation pending.
  history g(must_parse(R"({"name": "gate", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}, "confirm": "Is b right?"},
    {"name": "c", "after": ["a"], "run": {"builtin": "echo"}}]})"));
  g.start("a");
  g.complete("a");
  g.start("c");
  g.complete("c");
  g.start("b");
  g.complete("b");
  g.system_step();
  g.change_context("c");
  BOOST_REQUIRE(g.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(g.state().pending()->stage, g.at("b"));
}

BOOST_AUTO_TEST_CASE(a_pending_retry_confirmation_is_dropped_when_the_loop_is_outdated) {
  history h(example_spec());
  for (const char* stage : {"idea", "analyze"}) {
    h.start(stage);
    h.complete(stage);
  }
  h.system_step();
  h.approve("analyze");
  for (const char* stage : {"slice", "handoff", "execute"}) {
    h.start(stage);
    h.complete(stage);
  }
  // validate fails until its re-runs are used up and a confirmation is asked.
  for (int round = 0; round < 100 && !h.state().pending(); ++round) {
    if (h.system_step()) continue;
    for (stage_index i : startable(h.state())) {
      const std::string name = h.spec()[i].name;
      h.start(name);
      if (name == "validate") h.fail(name, "tests fail");
      else h.complete(name);
    }
  }
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->stage, h.at("validate"));
  h.change_context("handoff");
  BOOST_CHECK(h.state().pending() == nullptr);
  BOOST_CHECK_EQUAL(h.status("execute"), stage_status::outdated);
  BOOST_CHECK_EQUAL(h.status("validate"), stage_status::outdated);
  BOOST_TEST(names_of(h.spec(), startable(h.state())) == names{"execute"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
