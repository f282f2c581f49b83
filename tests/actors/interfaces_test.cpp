// The typed interfaces (actors/interfaces.hpp) hold for the real actors: every
// message of every interface, sent through the typed handle to a supervisor,
// the memory journal, the durable journal and the registry, is understood
// and answered with the declared type (a handler missing or answering
// another type would come back as an error here). That a message of the
// wrong shape does not compile is `actors.interfaces_refuse`
// (tests/actors/typed_misuse.cpp).
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include <caf/all.hpp>

#include "dairector/actors/interfaces.hpp"
#include "dairector/actors/registry.hpp"
#include "dairector/journal/open.hpp"
#include "real_system.hpp"

using namespace dairector;
using namespace dairector::actors;

namespace {

using testing::real_system;

std::shared_ptr<const pipeline_spec> one_stage() {
  auto spec = parse_spec_text(R"({"name": "t", "stages": [{"name": "a", "run": {"builtin": "echo"}}]})");
  BOOST_REQUIRE(spec.ok());
  return *spec;
}

// Asks `h` and fails the test on an error (a timeout included): `on_answer`
// must take the declared answer, or this does not compile.
template <class Handle, class OnAnswer, class... Ts>
void must_answer(caf::scoped_actor& self, const Handle& h, const char* what, OnAnswer on_answer, Ts&&... xs) {
  self->request(h, std::chrono::seconds(60), std::forward<Ts>(xs)...)
      .receive(on_answer, [&](caf::error& err) { BOOST_ERROR(std::string(what) + ": " + describe(err)); });
}

// A message without an answer (reacts_to) is understood when a request
// carrying it gets the empty answer rather than `unexpected_message`.
template <class... Ts>
void must_understand(caf::scoped_actor& self, const caf::actor& a, const char* what, Ts&&... xs) {
  self->request(a, std::chrono::seconds(60), std::forward<Ts>(xs)...)
      .receive([] {}, [&](caf::error& err) { BOOST_ERROR(std::string(what) + ": " + describe(err)); });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(interfaces)

BOOST_AUTO_TEST_CASE(the_supervisor_answers_its_interface) {
  real_system rs;
  caf::scoped_actor self{*rs.sys};
  supervisor_config sc;
  sc.pipeline = "p";
  sc.spec = one_stage();
  sc.drive = false;  // only the requests below move it
  sc.journal = rs.sys->spawn(memory_journal, memory_journal_events_max);
  supervisor_api sup = typed_supervisor(spawn_supervisor(*rs.sys, sc));
  must_answer(self, sup, "durable", [](reply& r) { BOOST_CHECK(r.is_ok()); }, durable_atom::value, std::uint64_t{1});
  must_answer(self, sup, "state", [](system_state& s) { BOOST_CHECK_EQUAL(s.seq(), 1u); }, state_atom::value);
  must_answer(self, sup, "watch", [](system_state& s) { BOOST_CHECK_EQUAL(s.seq(), 1u); }, watch_atom::value,
              caf::actor{self});
  must_answer(self, sup, "context", [](reply& r) { BOOST_CHECK_MESSAGE(r.is_ok(), r.message); }, context_atom::value,
              std::string("a"), std::string("{}"), std::string("user:t"));
  must_answer(self, sup, "start", [](reply& r) { BOOST_CHECK_MESSAGE(r.is_ok(), r.message); }, start_atom::value,
              std::string("a"), std::string("user:t"));
  // Before or after the echo's completion (either is a legal order, rule 6): answered either way.
  must_answer(self, sup, "cancel", [](reply&) {}, cancel_atom::value, std::string("a"), std::string("user:t"));
  must_answer(self, sup, "resolve", [](reply& r) { BOOST_CHECK_EQUAL(r.message, "no confirmation is pending"); },
              resolve_atom::value, true, std::string(), std::string("user:t"));
  // Allowed if the cancel above came first (a is cancelled), refused if a completed: answered either way.
  must_answer(self, sup, "retry", [](reply&) {}, retry_atom::value, std::string("a"), std::string("user:t"));
  must_answer(self, sup, "rollback", [](reply& r) { BOOST_CHECK_MESSAGE(r.is_ok(), r.message); }, rollback_atom::value,
              std::uint64_t{1}, std::string("user:t"));
  must_understand(self, caf::actor_cast<caf::actor>(sup), "stop", stop_atom::value);
}

BOOST_AUTO_TEST_CASE(both_journals_answer_their_interface) {
  testing::scratch_dir dir;  // first: removed once the system has stopped
  real_system rs;
  caf::scoped_actor self{*rs.sys};
  auto store = open_journal((dir.path / "j.db").string());
  BOOST_REQUIRE(store.ok());
  const caf::actor durable = spawn_durable_journal(*rs.sys, std::shared_ptr<journal_store>(std::move(*store)));
  const caf::actor memory = rs.sys->spawn(memory_journal, memory_journal_events_max);
  event created;
  created.seq = 1;
  created.pipeline = "p";
  created.by = "user:t";
  created.spec = one_stage();
  for (const caf::actor& a : {memory, durable}) {
    journal_api j = typed_journal(a);
    must_understand(self, a, "subscribe", subscribe_atom::value, caf::actor{self});
    must_answer(self, j, "persist", [](std::uint64_t seq) { BOOST_CHECK_EQUAL(seq, 1u); }, persist_atom::value, created);
    event started = created;
    started.seq = 2;
    started.type = event_type::stage_started;
    started.stage = 0;
    started.run = 2;
    started.spec = nullptr;
    must_understand(self, a, "append", append_atom::value, started);
    must_answer(self, j, "sync", [](std::uint64_t) {}, journal_sync_atom::value);
    must_answer(self, j, "history", [](std::vector<event>& h) { BOOST_CHECK_EQUAL(h.size(), 2u); }, history_atom::value,
                std::string("p"));
  }
  durable_journal_api d = typed_durable_journal(durable);
  must_answer(self, d, "events_after", [](std::vector<positioned_event>& e) { BOOST_CHECK_EQUAL(e.size(), 2u); },
              events_after_atom::value, std::uint64_t{0}, std::uint64_t{10});
  must_answer(self, d, "own", [](std::uint64_t) {}, own_atom::value, std::string("p"));
  must_answer(self, d, "disown", [](bool) {}, disown_atom::value, std::string("p"));
  must_answer(self, d, "reopen", [](std::uint32_t never_failed) { BOOST_CHECK_EQUAL(never_failed, 0u); },
              reopen_atom::value);
  must_answer(self, d, "stats", [](std::vector<std::uint64_t>& s) { BOOST_CHECK_EQUAL(s.size(), 2u); },
              journal_stats_atom::value);
  must_answer(self, d, "summary", [](std::vector<pipeline_summary>& p) { BOOST_CHECK_EQUAL(p.size(), 1u); },
              summary_atom::value);
  auto ran = std::make_shared<bool>(false);
  must_answer(self, d, "store_task", [](bool) {}, store_task_atom::value,
              std::make_shared<store_task>([ran](journal_store&) { *ran = true; }));
  BOOST_CHECK(*ran);
  must_answer(
      self, d, "metrics",
      [](journal_metrics& m) {
        BOOST_CHECK_GE(m.commit.commits, 1u);
        // A real commit on the committer's own thread takes some of its CPU,
        // never more than the commit's wall time.
        BOOST_CHECK_GT(m.commit.cpu_seconds_sum, 0.0);
        BOOST_CHECK_LE(m.commit.cpu_seconds_sum, m.commit.seconds_sum + 1e-3);
      },
      journal_metrics_atom::value);
  self->send_exit(durable, caf::exit_reason::user_shutdown);
  self->send_exit(memory, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(the_registry_answers_its_interface) {
  real_system rs;
  caf::scoped_actor self{*rs.sys};
  const caf::actor a = rs.sys->spawn(registry, registry_config{});
  registry_api r = typed_registry(a);
  must_answer(self, r, "assign", [](caf::actor& w) { BOOST_CHECK(!w); },  // nobody serves it: run it here
              assign_request{"a", "p", 2});
  must_answer(self, r, "waits", [](std::vector<stage_wait>& w) { BOOST_CHECK(w.empty()); }, waits_request{"p"});
  must_understand(self, a, "withdraw", withdraw_request{2});
  must_answer(self, r, "count", [](std::uint64_t n) { BOOST_CHECK_EQUAL(n, 0u); }, workers_count_request{});
  must_understand(self, a, "unassign", unassign_request{caf::actor{}});
  must_understand(self, a, "lost", lost_report{caf::actor_addr{}});
  self->send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
