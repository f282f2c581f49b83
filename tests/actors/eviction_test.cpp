// Finished pipelines rest and come back (director.hpp, "Resting"), under the
// test coordinator: one message at a time, timers only when the test fires
// them. A finished pipeline's supervisor goes (at once, or after the idle
// time without a request), every request for it rebuilds it from the journal
// and gets the answer the live pipeline would have given, a control command
// makes it active again, and a request that arrives at any point of the
// handshake between the director and the supervisor is answered, never lost,
// with one writer per pipeline at every moment (the journal's seqs stay
// gapless). A damaged pipeline is known, listed and refused with its reason.
#include <boost/test/unit_test.hpp>

#include <caf/all.hpp>

#include <set>

#include "dairector/actors/director.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/invariants.hpp"
#include "dairector/journal_store.hpp"
#include "dairector/plan.hpp"

using namespace dairector;
using namespace dairector::actors;

namespace {

const char* two_echoes = R"({"name": "t", "stages": [
  {"name": "a", "run": {"builtin": "echo"}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]})";

struct director_fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;
  caf::actor journal, dir;
  std::int64_t clock = 1'700'000'000'000;

  explicit director_fixture(std::int64_t evict_after_ms) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.console", caf::atom("none"));
    register_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
    journal = sys->spawn(memory_journal, memory_journal_events_max);
    director_config dc;
    dc.journal = journal;
    dc.evict_after_ms = evict_after_ms;
    dc.clock_ms = [this] { return ++clock; };
    dir = sys->spawn(director, dc);
    sched->run();
  }
  ~director_fixture() {
    caf::anon_send(dir, stop_atom::value);
    sched->run();
    caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
    sched->run();
  }

  /// Spawns a probe that sends one request to `to` and keeps the answer (or
  /// the error) in `out`. It runs when the coordinator gets to it, or at
  /// once with `now` (its request then queues at `to` right away).
  template <class T, class... Ts>
  void probe(std::shared_ptr<std::variant<std::monostate, T, caf::error>> out, const caf::actor& to, bool now,
             Ts... xs) {
    auto p = sys->spawn(
        [=](caf::event_based_actor* self, int) {
          self->request(to, caf::infinite, xs...)
              .then([=](T& value) { *out = std::move(value); }, [=](caf::error& err) { *out = std::move(err); });
        },
        0);
    if (now) {
      BOOST_REQUIRE(sched->prioritize(p));
      sched->run_once();
    }
  }
  /// One request, run to the end (no timer fires).
  template <class T, class... Ts>
  T must(const caf::actor& to, Ts... xs) {
    auto out = std::make_shared<std::variant<std::monostate, T, caf::error>>();
    probe<T>(out, to, false, xs...);
    sched->run();
    if (auto* err = std::get_if<caf::error>(&*out)) BOOST_FAIL("refused: " << describe(*err));
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<T>(*out), "no answer");
    return std::get<T>(*out);
  }
  caf::error must_fail(const caf::actor& to, caf::message request) {
    auto out = std::make_shared<std::variant<std::monostate, system_state, caf::error>>();
    probe<system_state>(out, to, false, request);
    sched->run();
    BOOST_REQUIRE_MESSAGE(std::holds_alternative<caf::error>(*out), "should have been refused");
    return std::get<caf::error>(*out);
  }

  void create(const std::string& id) {
    auto spec = parse_spec_text(two_echoes);
    BOOST_REQUIRE(spec.ok());
    reply r = must<reply>(dir, create_atom::value, id, *spec, std::string());
    BOOST_REQUIRE_MESSAGE(r.is_ok(), r.message);
  }
  hosted_pipeline entry(const std::string& id) {
    for (auto& h : must<std::vector<hosted_pipeline>>(dir, summary_atom::value))
      if (h.id == id) return h;
    BOOST_FAIL("the director does not list '" << id << "'");
    return {};
  }
  bool rests(const std::string& id) { return !entry(id).supervisor; }
  std::vector<event> history(const std::string& id) { return must<std::vector<event>>(journal, history_atom::value, id); }
  system_state routed_state(const std::string& id) {
    return must<system_state>(dir, id, caf::make_message(state_atom::value));
  }
  /// The journal holds each seq of `id` once, from 1, and replays to the invariants.
  void check_journal(const std::string& id, std::uint64_t seq) {
    auto h = history(id);
    BOOST_REQUIRE_EQUAL(h.size(), seq);
    for (std::size_t k = 0; k < h.size(); ++k) BOOST_REQUIRE_EQUAL(h[k].seq, k + 1);
    auto s = replay(h);
    BOOST_REQUIRE_MESSAGE(s.ok(), (s.ok() ? std::string() : s.err().message));
    BOOST_CHECK(outcome(*s) == pipeline_outcome::done);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(eviction)

BOOST_AUTO_TEST_CASE(a_finished_pipeline_rests_and_every_request_rebuilds_it) {
  director_fixture f(0);
  f.create("p-1");
  // created, a started and completed, b started and completed
  BOOST_CHECK(f.rests("p-1"));
  BOOST_CHECK_EQUAL(f.entry("p-1").seq, 5u);
  BOOST_CHECK_EQUAL(f.entry("p-1").name, "t");
  f.check_journal("p-1", 5);

  // A read rebuilds it from the journal: the state replayed, then it rests again.
  auto lookup = f.must<caf::actor>(f.dir, lookup_atom::value, std::string("p-1"));
  const caf::actor_addr first = lookup.address();
  lookup = nullptr;
  system_state s = f.routed_state("p-1");
  BOOST_CHECK_EQUAL(s.seq(), 5u);
  BOOST_CHECK(outcome(s) == pipeline_outcome::done);
  BOOST_CHECK(check_invariants(s).empty());
  BOOST_CHECK(f.rests("p-1"));
  BOOST_CHECK_MESSAGE(!caf::actor_cast<caf::actor>(first), "a rested supervisor is still alive");
  f.check_journal("p-1", 5);  // rebuilding wrote nothing

  // A control command makes it active again: it runs, finishes and rests.
  reply r = f.must<reply>(f.dir, std::string("p-1"),
                          caf::make_message(context_atom::value, std::string("a"), std::string(R"({"goal": 2})"),
                                            std::string("user:ana")));
  BOOST_REQUIRE_MESSAGE(r.is_ok(), r.message);
  BOOST_CHECK(f.rests("p-1"));
  BOOST_CHECK_EQUAL(f.entry("p-1").seq, 8u);  // context_changed on a, then b (downstream) again
  f.check_journal("p-1", 8);
  BOOST_CHECK_EQUAL(f.routed_state("p-1").seq(), 8u);
}

BOOST_AUTO_TEST_CASE(it_rests_only_after_the_idle_time_without_a_request) {
  director_fixture f(60'000);
  f.create("p-1");
  BOOST_CHECK(!f.rests("p-1"));  // finished, but its time has not come
  f.routed_state("p-1");         // a request meanwhile: the timer starts again
  BOOST_CHECK_EQUAL(f.sched->trigger_timeouts(), 1u);
  f.sched->run();
  BOOST_CHECK(!f.rests("p-1"));
  BOOST_CHECK_EQUAL(f.sched->trigger_timeouts(), 1u);  // idle for a whole period now
  f.sched->run();
  BOOST_CHECK(f.rests("p-1"));
  BOOST_CHECK_EQUAL(f.routed_state("p-1").seq(), 5u);
}

// The handshake (idle, evict, its answer) and a rebuild take several
// messages; a control request and a read are sent in at every point of it in
// turn. Each is answered as the live pipeline would answer it, and there is
// never a second supervisor writing the same pipeline.
BOOST_AUTO_TEST_CASE(a_request_at_any_point_of_resting_is_answered_by_one_supervisor) {
  std::set<int> phases;  // the director's view of the pipeline when the requests came
  std::size_t points = 0;
  for (std::size_t k = 0;; ++k) {
    BOOST_TEST_CONTEXT("the requests sent after " << k << " messages") {
      director_fixture f(0);
      auto spec = parse_spec_text(two_echoes);
      BOOST_REQUIRE(spec.ok());
      auto created = std::make_shared<std::variant<std::monostate, reply, caf::error>>();
      f.probe<reply>(created, f.dir, true, create_atom::value, std::string("p-1"), *spec, std::string());
      std::size_t ran = 0;
      while (ran < k && f.sched->try_run_once()) ++ran;
      const bool last = ran < k;  // everything had run: the requests come to a resting pipeline
      const auto& dst = dynamic_cast<director_actor&>(*caf::actor_cast<caf::abstract_actor*>(f.dir)).state;
      if (auto it = dst.pipelines.find("p-1"); it != dst.pipelines.end()) phases.insert(it->second.phase);
      ++points;
      auto changed = std::make_shared<std::variant<std::monostate, reply, caf::error>>();
      auto read = std::make_shared<std::variant<std::monostate, system_state, caf::error>>();
      f.probe<reply>(changed, f.dir, true, std::string("p-1"),
                     caf::make_message(context_atom::value, std::string("a"), std::string("{}"),
                                       std::string("user:ana")));
      f.probe<system_state>(read, f.dir, true, std::string("p-1"), caf::make_message(state_atom::value));
      f.sched->run();
      BOOST_REQUIRE(std::holds_alternative<reply>(*created));
      BOOST_REQUIRE_MESSAGE(std::holds_alternative<reply>(*changed),
                            "the context change got "
                                << (std::holds_alternative<caf::error>(*changed)
                                        ? describe(std::get<caf::error>(*changed))
                                        : std::string("no answer")));
      BOOST_CHECK_MESSAGE(std::get<reply>(*changed).is_ok(), std::get<reply>(*changed).message);
      BOOST_REQUIRE_MESSAGE(std::holds_alternative<system_state>(*read), "the read got no state");
      BOOST_CHECK_GE(std::get<system_state>(*read).seq(), std::get<reply>(*changed).seq);  // it came after
      BOOST_CHECK(f.rests("p-1"));
      // 6 events if the change came while a ran (b had not run yet), else 8 (b ran again).
      const std::uint64_t seq = f.entry("p-1").seq;
      BOOST_CHECK_MESSAGE(seq == 6 || seq == 8, "the pipeline rests at seq " << seq);
      f.check_journal("p-1", seq);
      if (last) break;
    }
  }
  BOOST_TEST_MESSAGE(points << " points; the pipeline was live, being asked to rest, or resting at them");
  using e = director_state::entry;
  BOOST_CHECK(phases.count(e::live) && phases.count(e::evicting) && phases.count(e::resting));
}

BOOST_AUTO_TEST_CASE(a_thousand_finished_pipelines_keep_no_supervisor) {
  director_fixture f(0);
  constexpr int pipelines = 1'000;
  for (int k = 0; k < pipelines; ++k) f.create("p-" + std::to_string(k));
  auto all = f.must<std::vector<hosted_pipeline>>(f.dir, summary_atom::value);
  BOOST_REQUIRE_EQUAL(all.size(), std::size_t(pipelines));
  std::size_t live = 0;
  for (const auto& h : all) live += h.supervisor ? 1 : 0;
  BOOST_CHECK_EQUAL(live, 0u);
  BOOST_CHECK_EQUAL(f.must<std::vector<std::string>>(f.dir, list_atom::value).size(), std::size_t(pipelines));
  // Known, so a new pipeline cannot take an id of theirs.
  auto spec = parse_spec_text(two_echoes);
  BOOST_REQUIRE(spec.ok());
  reply again = f.must<reply>(f.dir, create_atom::value, std::string("p-7"), *spec, std::string());
  BOOST_CHECK_EQUAL(int(again.code), int(reply::invalid));
}

BOOST_AUTO_TEST_CASE(a_damaged_pipeline_is_listed_and_refused_with_its_reason) {
  director_fixture f(0);
  reply r = f.must<reply>(f.dir, damaged_atom::value, std::string("broken"), std::string("t"), std::uint64_t{9},
                          std::uint64_t{4}, std::string("checksum mismatch"));
  BOOST_REQUIRE(r.is_ok());
  f.create("fine");
  auto broken = f.entry("broken");
  BOOST_CHECK_EQUAL(broken.damaged_seq, 4u);
  BOOST_CHECK_EQUAL(broken.seq, 9u);
  BOOST_CHECK(broken.damage.find("checksum mismatch") != std::string::npos);
  BOOST_CHECK(f.entry("fine").damage.empty());
  for (caf::message request : {caf::make_message(state_atom::value),
                               caf::make_message(cancel_atom::value, std::string(), std::string("user:ana"))}) {
    caf::error err = f.must_fail(f.dir, caf::make_message(std::string("broken"), request));
    BOOST_CHECK(errc_of(err) == errc::journal);
    BOOST_CHECK_MESSAGE(describe(err).find("pipeline 'broken' is damaged in the journal at seq 4: checksum mismatch") !=
                            std::string::npos,
                        describe(err));
  }
  caf::error unknown = f.must_fail(f.dir, caf::make_message(std::string("nope"), caf::make_message(state_atom::value)));
  BOOST_CHECK(errc_of(unknown) == errc::not_found);
  BOOST_CHECK_EQUAL(f.routed_state("fine").seq(), 5u);
}

BOOST_AUTO_TEST_SUITE_END()
