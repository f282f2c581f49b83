// Deterministic races: each test names the interleaving it forces with the
// test coordinator (CAF-0.17.md §3). No sleeps.
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

BOOST_AUTO_TEST_SUITE_END()
