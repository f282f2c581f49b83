// Folding the history (docs/design.md#the-nine-rules, rules 8 and 9): the state after every event
// is the fold of the events up to it, so recovery and time travel read the
// same state the supervisor held; a rollback appends an event that restores an
// earlier stage table, and results of runs it left behind are refused.
#include <string>
#include <vector>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// Finishes every startable stage and answers every confirmation with `approve`.
void finish(history& h, bool approve = true) {
  for (int step = 0; step < 1000; ++step) {
    if (const confirmation* c = h.state().pending()) {
      h.resolve(h.spec()[c->stage].name, approve, approve ? "yes" : "no");
      continue;
    }
    if (h.system_step()) continue;
    const auto ready = startable(h.state());
    if (ready.empty()) return;
    const std::string name = h.spec()[ready.front()].name;
    h.start(name);
    h.complete(name);
  }
  BOOST_FAIL("the pipeline did not settle within the step budget");
}

/// The example with a run.retry on 'validate' (2 runs, then its on_failure).
std::shared_ptr<const pipeline_spec> retrying_example() {
  json doc = example_spec()->to_json();
  for (json& stage : doc["stages"])
    if (stage["name"] == "validate") stage["run"]["retry"] = {{"max_attempts", 2}, {"backoff_ms", 100}};
  auto spec = parse_spec(doc);
  BOOST_REQUIRE_MESSAGE(spec.ok(), describe(spec));
  return *spec;
}

/// A history of the example that uses every kind of event.
history eventful() {
  history h(retrying_example());
  h.start("idea");
  h.complete("idea", json{{"idea", "a pipeline runner"}});
  h.start("analyze");
  h.complete("analyze");
  h.system_step();
  h.reject("analyze");
  const std::uint64_t lost = h.start("analyze");
  h.interrupt("analyze");
  h.discard("analyze", lost, "completed");
  h.start("analyze");
  h.complete("analyze", json{{"design", "v2"}});
  h.system_step();
  h.approve("analyze");
  const std::uint64_t cancelled = h.start("slice");
  h.cancel("slice");
  h.discard("slice", cancelled, "failed");
  h.start("slice");
  h.complete("slice");
  h.start("handoff");
  h.complete("handoff");
  h.start("execute");
  h.complete("execute");
  h.start("validate");
  h.fail("validate", "2 tests fail");
  BOOST_REQUIRE((h.system_step() == event_type::retry_scheduled));
  h.start("validate");  // a second later: due
  h.fail("validate", "still 2 tests fail");
  BOOST_REQUIRE((h.system_step() == event_type::rerun_requested));
  finish(h);
  BOOST_REQUIRE_EQUAL(outcome(h.state()), pipeline_outcome::done);
  h.change_context("slice", json{{"focus", "tests"}});
  const std::uint64_t fenced = h.start("handoff");
  h.change_context("analyze", json{{"focus", "api"}});
  h.discard("handoff", fenced, "completed");
  const std::uint64_t before_rollback = h.seq();
  finish(h);
  h.roll_back(before_rollback);
  const std::uint64_t stopped = h.start("slice");
  h.cancel_all();
  h.retry("slice");
  h.cancel_all();
  h.discard("slice", stopped, "completed");
  return h;
}

/// The stage table of `a` and `b` agree, `since` aside.
void check_same_table(const system_state& a, const system_state& b, stage_index skip = no_stage) {
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (stage_index i = 0; i < a.size(); ++i) {
    if (i == skip) continue;
    BOOST_TEST_CONTEXT("stage '" << a.spec()[i].name << "'") {
      BOOST_CHECK(a.stage(i).stored == b.stage(i).stored);
      BOOST_CHECK_EQUAL(a.stage(i).run, b.stage(i).run);
      BOOST_CHECK_EQUAL(a.stage(i).attempt, b.stage(i).attempt);
      BOOST_CHECK_EQUAL(a.stage(i).reason, b.stage(i).reason);
      BOOST_CHECK_EQUAL(a.stage(i).confirmed, b.stage(i).confirmed);
      BOOST_CHECK(a.payload(i).output == b.payload(i).output);
      BOOST_CHECK(a.payload(i).context == b.payload(i).context);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fold)

BOOST_AUTO_TEST_CASE(fold_equals_applying_step_by_step) {
  const history h = eventful();
  // Every kind of event is in there (pipeline_created … rerun_requested).
  std::vector<bool> seen(event_type_count, false);
  for (const event& e : h.events()) seen[static_cast<std::size_t>(e.type)] = true;
  for (int k = 0; k < event_type_count; ++k)
    BOOST_CHECK_MESSAGE(seen[std::size_t(k)], "no " << to_string(static_cast<event_type>(k)) << " in the history");

  auto folded = dairector::fold(h.events());
  BOOST_REQUIRE_MESSAGE(folded.ok(), describe(folded));
  BOOST_CHECK(same_facts(*folded, h.state()));
  BOOST_CHECK_EQUAL(folded->seq(), h.events().size());
  BOOST_CHECK(check_invariants(*folded).empty());
  BOOST_CHECK_EQUAL(state_to_json(*folded).dump(), state_to_json(h.state()).dump());
}

BOOST_AUTO_TEST_CASE(state_at_every_seq_equals_the_state_then) {
  const history h = eventful();
  const auto& events = h.events();
  for (std::uint64_t seq = 0; seq <= events.size(); ++seq) {
    BOOST_TEST_CONTEXT("seq " << seq) {
      auto then = state_at(events, seq);
      BOOST_REQUIRE_MESSAGE(then.ok(), describe(then));
      BOOST_CHECK_EQUAL(then->seq(), seq);
      BOOST_CHECK(same_facts(*then, h.states()[seq]));
      BOOST_CHECK(check_invariants(*then).empty());
    }
  }
  BOOST_CHECK(state_at(events, 0)->empty());
}

BOOST_AUTO_TEST_CASE(state_at_beyond_the_end_is_an_error) {
  const history h(line_spec());
  auto r = state_at(h.events(), 2);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK_EQUAL(r.err().code, errc::not_found);
  BOOST_CHECK_EQUAL(r.err().message, "no event with seq 2 (the history ends at 1)");
  auto none = state_at(std::span<const event>{}, 1);
  BOOST_REQUIRE(!none.ok());
  BOOST_CHECK_EQUAL(none.err().code, errc::not_found);
}

BOOST_AUTO_TEST_CASE(an_empty_history_folds_to_the_empty_state) {
  auto r = dairector::fold(std::span<const event>{});
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK(r->empty());
  BOOST_CHECK_EQUAL(r->seq(), 0u);
}

BOOST_AUTO_TEST_CASE(a_broken_history_names_the_event_that_breaks_it) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  std::vector<event> gap = h.events();
  gap.erase(gap.begin() + 2);  // seq 3 is lost
  auto r = dairector::fold(gap);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK_EQUAL(r.err().code, errc::refused);
  BOOST_CHECK_EQUAL(r.err().message, "event seq 4 (stage_started): event seq 4 does not follow seq 2");

  std::vector<event> headless(h.events().begin() + 1, h.events().end());
  auto no_start = dairector::fold(headless);
  BOOST_REQUIRE(!no_start.ok());
  BOOST_CHECK_EQUAL(no_start.err().message, "event seq 2 (stage_started): stage_started before pipeline_created");

  std::vector<event> twice = h.events();
  twice.push_back(twice.back());
  twice.back().seq = 5;  // a second start of b
  auto second = dairector::fold(twice);
  BOOST_REQUIRE(!second.ok());
  DAIRECTOR_CHECK_CONTAINS(second.err().message, "event seq 5 (stage_started): ");
  // The prefix before the break still folds.
  auto prefix = state_at(twice, 4);
  BOOST_REQUIRE(prefix.ok());
  BOOST_CHECK(same_facts(*prefix, h.state()));
}

// ---------------------------------------------------------------- rollback

BOOST_AUTO_TEST_CASE(a_rollback_restores_the_stage_table_and_fences_later_runs) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  const std::uint64_t c_run = h.start("c");  // seq 6: the target
  h.complete("c");
  const std::uint64_t d_run = h.start("d");
  h.roll_back(6);
  const system_state& target = h.states()[6];
  const system_state& now = h.state();
  BOOST_CHECK_EQUAL(now.seq(), 9u);
  // Everything as it was right after seq 6, but the run live then is not live now.
  check_same_table(now, target, h.at("c"));
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::ready);
  BOOST_CHECK_EQUAL(h.stage("c").run, c_run);
  BOOST_CHECK_EQUAL(h.stage("c").attempt, 1u);
  BOOST_CHECK_EQUAL(h.stage("c").since, 9u);
  BOOST_CHECK_EQUAL(h.status("d"), stage_status::pending);
  BOOST_CHECK_EQUAL(h.stage("d").since, 9u);   // changed by the rollback
  BOOST_CHECK_EQUAL(h.stage("a").since, target.stage(h.at("a")).since);  // untouched
  BOOST_CHECK(now.payload(h.at("c")).output == nullptr);
  // Results of runs the rollback left behind are refused.
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("c", c_run)), "run 6 of stage 'c' is not live (stage is ready)");
  BOOST_CHECK_EQUAL(h.refuse(h.completed_event("d", d_run)), "run 8 of stage 'd' is not live (stage is pending)");
  h.discard("d", d_run, "completed");
  // The journal holds the rollback unresolved; fold resolves it to the same state.
  BOOST_CHECK(h.events()[8].type == event_type::rolled_back);
  BOOST_CHECK(h.events()[8].target == nullptr);
  auto folded = dairector::fold(h.events());
  BOOST_REQUIRE_MESSAGE(folded.ok(), describe(folded));
  BOOST_CHECK(same_facts(*folded, h.state()));
  auto at_rollback = state_at(h.events(), 9);
  BOOST_REQUIRE(at_rollback.ok());
  BOOST_CHECK(same_facts(*at_rollback, h.states()[9]));
  // And the pipeline carries on from there.
  run_to_end(h);
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
  BOOST_CHECK_EQUAL(h.stage("c").attempt, 2u);
}

BOOST_AUTO_TEST_CASE(a_rollback_restores_a_pending_confirmation) {
  history h(must_parse(R"({"name": "gate", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}, "confirm": "Is b right?"},
    {"name": "c", "after": ["b"], "run": {"builtin": "echo"}}]})"));
  h.start("a");
  h.complete("a");
  h.start("b");
  h.complete("b");
  h.system_step();
  const std::uint64_t asked = h.seq();
  h.approve("b");
  h.start("c");
  h.complete("c");
  h.roll_back(asked);
  BOOST_REQUIRE(h.state().pending() != nullptr);
  BOOST_CHECK_EQUAL(h.state().pending()->message, "Is b right?");
  BOOST_CHECK_EQUAL(h.state().pending()->requested_seq, asked);
  BOOST_CHECK(!h.stage("b").confirmed);
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::pending);
  BOOST_CHECK_EQUAL(h.refuse(h.start_event("c"), errc::blocked), "blocked: waiting for confirmation: Is b right?");
  h.reject("b");
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::outdated);
  auto folded = dairector::fold(h.events());
  BOOST_REQUIRE(folded.ok());
  BOOST_CHECK(same_facts(*folded, h.state()));
}

BOOST_AUTO_TEST_CASE(rollbacks_over_rollbacks_fold) {
  history h(diamond_spec());
  h.start("a");
  h.complete("a");
  const std::uint64_t early = h.seq();
  h.start("b");
  h.start("c");
  h.complete("b");
  h.roll_back(early);  // b and c forgotten
  BOOST_TEST(with_status(h.state(), stage_status::ready) == (names{"b", "c"}), boost::test_tools::per_element());
  const std::uint64_t after_first = h.seq();
  h.start("c");
  h.complete("c");
  h.roll_back(after_first - 1);  // to before the first rollback: b completed, c running
  BOOST_CHECK_EQUAL(h.status("b"), stage_status::completed);
  BOOST_CHECK_EQUAL(h.status("c"), stage_status::ready);  // its run at the target is not live now
  h.roll_back(after_first);  // to the state the first rollback made
  check_same_table(h.state(), h.states()[after_first]);
  run_to_end(h);
  for (std::uint64_t seq = 0; seq <= h.events().size(); ++seq) {
    auto then = state_at(h.events(), seq);
    BOOST_REQUIRE_MESSAGE(then.ok(), describe(then));
    BOOST_CHECK_MESSAGE(same_facts(*then, h.states()[seq]), "state_at(" << seq << ") differs");
  }
  BOOST_CHECK_EQUAL(outcome(h.state()), pipeline_outcome::done);
}

// "Undo" repeated: each rollback returns to the state just before the previous
// event, itself a rollback. Recovery folds such a journal; resolving each
// rollback by folding its prefix again would nest and grow exponentially with
// the chain, so the fold must finish at once (the timeout fails it otherwise).
BOOST_AUTO_TEST_CASE(a_chain_of_rollbacks_folds_quickly, *boost::unit_test::timeout(20)) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  h.start("b");
  constexpr int chain = 60;
  for (int k = 0; k < chain; ++k) h.roll_back(h.seq() - 1);
  auto folded = dairector::fold(h.events());
  BOOST_REQUIRE_MESSAGE(folded.ok(), describe(folded));
  BOOST_CHECK(same_facts(*folded, h.state()));
  for (std::uint64_t seq = 0; seq <= h.events().size(); ++seq) {
    auto then = state_at(h.events(), seq);
    BOOST_REQUIRE_MESSAGE(then.ok(), describe(then));
    BOOST_CHECK_MESSAGE(same_facts(*then, h.states()[seq]), "state_at(" << seq << ") differs");
  }
}

BOOST_AUTO_TEST_CASE(a_rollback_must_name_an_earlier_state_of_this_pipeline) {
  history h(line_spec());
  h.start("a");
  h.complete("a");
  auto rollback = [&](std::uint64_t to, std::shared_ptr<const system_state> target) {
    event e = h.make(event_type::rolled_back);
    e.to = to;
    e.target = std::move(target);
    return e;
  };
  auto at = [&](std::uint64_t seq) { return std::make_shared<const system_state>(h.states()[seq]); };
  BOOST_CHECK_EQUAL(h.refuse(rollback(2, nullptr)), "rolled_back to seq 2 was not resolved against the history");
  BOOST_CHECK_EQUAL(h.refuse(rollback(0, at(1))), "cannot roll back to seq 0: it must be between 1 and 3");
  BOOST_CHECK_EQUAL(h.refuse(rollback(4, at(1))), "cannot roll back to seq 4: it must be between 1 and 3");
  BOOST_CHECK_EQUAL(h.refuse(rollback(2, at(1))), "the rollback target is not this pipeline's state at seq 2");
  BOOST_CHECK_EQUAL(h.refuse(rollback(1, std::make_shared<const system_state>())),
                    "the rollback target is not this pipeline's state at seq 1");
  history other(line_spec(), "p-2");
  other.start("a");
  BOOST_CHECK_EQUAL(h.refuse(rollback(2, std::make_shared<const system_state>(other.state()))),
                    "the rollback target is not this pipeline's state at seq 2");
  // In a journal, a rollback to a seq not before it cannot be resolved.
  std::vector<event> events = h.events();
  event bad = rollback(4, nullptr);
  events.push_back(bad);
  auto r = dairector::fold(events);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK_EQUAL(r.err().message, "event seq 4 (rolled_back): cannot roll back to seq 4");
  // Rolling back to the latest state is legal and changes nothing but seq.
  h.roll_back(3);
  check_same_table(h.state(), h.states()[3]);
}

BOOST_AUTO_TEST_SUITE_END()
