// An answer means durable (issue 12, item 5): a client hears `ok` for a
// command (start, cancel, context change, confirm, reject, rollback) or a
// creation only after the journal committed its event, through the same group
// commit as everything else; a failed commit answers with the journal's
// error, never `ok`. The supervisor does not wait meanwhile: other messages,
// other clients' commands included, are handled while an answer is owed.
//
// The journal is a stand-in that commits only when told (held_journal.hpp),
// so "not committed yet" is a state the test holds, not a race it hopes for;
// each test names the interleaving it forces.
#include <functional>
#include <limits>

#include "dairector/actors/director.hpp"
#include "held_journal.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {

const char* confirm_spec = R"({"name": "t", "stages": [
  {"name": "a", "run": {"builtin": "echo"}, "confirm": "Approve a?"},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]})";

struct ack_fixture : fixture {
  ack_fixture() {
    caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);  // the harness's memory journal
    journal = sys->spawn(held_journal, 0);
    sched->run();
  }

  held_journal_state& held() { return held_of(journal); }
  /// Commits the next `n` held events (default: all), then runs what follows.
  void commit(std::size_t n = std::numeric_limits<std::size_t>::max()) {
    caf::anon_send(journal, commit_atom::value, std::min(n, held().held_events));
    sched->run();
  }
  void fail(const std::string& why) {
    caf::anon_send(journal, fail_atom::value, why);
    sched->run();
  }
  bool committed(event_type t) {
    for (const auto& e : held().committed)
      if (e.type == t) return true;
    return false;
  }
  bool is_held(event_type t) {
    for (const auto& x : held().held)
      if (x.e && x.e->type == t) return true;
    return false;
  }

  /// The pipeline with nothing held: created (and, by the driver, started
  /// what it could), all committed.
  void start_committed(const char* spec, bool drive) {
    start(spec, drive);
    sched->run();
    commit();
  }
  /// confirm_spec up to its pending confirmation, all committed.
  void confirmation_pending() {
    start_committed(confirm_spec, /*drive=*/true);
    worker_sends(state().stage(idx("a")).run, true, {{"a", 1}});
    sched->run();  // the completion's persist is held: the supervisor awaits it
    commit();      // durable: applied, then the confirmation is requested (held)
    commit();
    BOOST_REQUIRE(state().pending());
    BOOST_REQUIRE(held().held.empty());
  }

  /// Sends `request` from a client of its own and runs every message: the
  /// command is applied and its event sent, the journal holds it. Returns
  /// the answer slot (empty while no answer came).
  std::shared_ptr<caf::message> command(caf::message request) {
    auto answer = send_request(sup, std::move(request));
    sched->run();
    check();
    return answer;
  }
};

actors::reply reply_in(const std::shared_ptr<caf::message>& m) {
  BOOST_REQUIRE_MESSAGE(m->match_element<actors::reply>(0), "expected a reply, got " << caf::to_string(*m));
  return m->get_as<actors::reply>(0);
}

caf::message msg_start(const char* stage) {
  return caf::make_message(actors::start_atom::value, std::string(stage), std::string("user:ana"));
}
caf::message msg_cancel(const char* stage) {
  return caf::make_message(actors::cancel_atom::value, std::string(stage), std::string("user:ana"));
}
caf::message msg_context(const char* stage, const char* context) {
  return caf::make_message(actors::context_atom::value, std::string(stage), std::string(context),
                           std::string("user:ana"));
}
caf::message msg_resolve(bool approved) {
  return caf::make_message(actors::resolve_atom::value, approved, std::string("note"), std::string("user:ana"));
}
caf::message msg_rollback(std::uint64_t to) {
  return caf::make_message(actors::rollback_atom::value, to, std::string("user:ana"));
}

// One command, from a given starting point: what it sends and what it writes.
struct command_case {
  const char* name;
  std::function<void(ack_fixture&)> setup;  // leaves nothing held
  caf::message request;
  event_type writes;
};

std::vector<command_case> every_command() {
  auto idle = [](ack_fixture& f) { f.start_committed(two_stage_spec, /*drive=*/false); };
  auto a_running = [](ack_fixture& f) { f.start_committed(two_stage_spec, /*drive=*/true); };
  auto pending = [](ack_fixture& f) { f.confirmation_pending(); };
  return {
      {"start", idle, msg_start("a"), event_type::stage_started},
      {"cancel a stage", a_running, msg_cancel("a"), event_type::stage_cancelled},
      {"cancel the pipeline", a_running, msg_cancel(""), event_type::stage_cancelled},
      {"context change", a_running, msg_context("a", R"({"goal": 2})"), event_type::context_changed},
      {"confirm", pending, msg_resolve(true), event_type::confirmation_resolved},
      {"reject", pending, msg_resolve(false), event_type::confirmation_resolved},
      {"rollback", pending, msg_rollback(2), event_type::rolled_back},
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ack)

// For each command. Order forced: [client: command] [sup: applied, persist
// sent, answer kept] [journal: holds it] -- the client has no answer, the
// event is not committed -- [journal: commit] [sup: the ack] [client: ok].
BOOST_AUTO_TEST_CASE(each_command_is_answered_only_after_its_commit) {
  for (const auto& c : every_command()) {
    BOOST_TEST_CONTEXT(c.name) {
      ack_fixture f;
      c.setup(f);
      auto answer = f.command(c.request);
      BOOST_CHECK_MESSAGE(answer->empty(), "answered before the commit: " << caf::to_string(*answer));
      BOOST_CHECK(f.is_held(c.writes));
      BOOST_CHECK(!f.committed(c.writes));
      f.commit();
      BOOST_CHECK(f.committed(c.writes));
      auto r = reply_in(answer);
      BOOST_CHECK_MESSAGE(r.is_ok(), r.message);
    }
  }
}

// For each command. Order forced: [client: command] [sup: applied, persist
// sent] [journal: holds it] [journal: the write fails] [sup: the failure]
// [client: the journal's error]. Never ok; later commands are refused with
// the same error and record nothing.
BOOST_AUTO_TEST_CASE(a_failed_commit_answers_the_journal_error_never_ok) {
  for (const auto& c : every_command()) {
    BOOST_TEST_CONTEXT(c.name) {
      ack_fixture f;
      c.setup(f);
      auto answer = f.command(c.request);
      BOOST_CHECK(answer->empty());
      f.fail("disk full (test)");
      auto r = reply_in(answer);
      BOOST_CHECK_EQUAL(int(r.code), int(actors::reply::unavailable));
      BOOST_CHECK_MESSAGE(r.message == "journal failed: disk full (test)", r.message);
      BOOST_CHECK(!f.committed(c.writes));
      const std::uint64_t seq = f.state().seq();
      auto again = f.command(c.request);
      auto refused = reply_in(again);
      BOOST_CHECK_EQUAL(int(refused.code), int(actors::reply::unavailable));
      BOOST_CHECK_MESSAGE(refused.message == "journal failed: disk full (test)", refused.message);
      BOOST_CHECK_EQUAL(f.state().seq(), seq);  // nothing applied
    }
  }
}

// The answer waits for its own event, not for any commit. Order forced:
// [sup: context change on b (seq N), persist held behind a's start] [journal:
// commit everything before it] -- no answer -- [journal: commit it] [answer].
BOOST_FIXTURE_TEST_CASE(a_commit_without_the_event_does_not_answer, ack_fixture) {
  start(two_stage_spec, /*drive=*/true);
  sched->run();  // created, a started: both held
  auto answer = command(msg_context("b", "{}"));
  BOOST_REQUIRE_EQUAL(held().held_events, 3u);
  commit(2);
  BOOST_CHECK(committed(event_type::stage_started));
  BOOST_CHECK(answer->empty());
  commit(1);
  BOOST_CHECK(reply_in(answer).is_ok());
}

// Two clients' commands share one commit, and the supervisor handled the
// second while the first one's answer was owed. Order forced: [client 1:
// context change on b] [sup: applied, persist held] [client 2: cancel a]
// [sup: applied, persist held] -- neither answered -- [journal: one commit
// of both] [sup: both acks] [both clients: ok].
BOOST_FIXTURE_TEST_CASE(two_clients_commands_share_one_commit, ack_fixture) {
  start_committed(two_stage_spec, /*drive=*/true);
  const std::size_t commits_before = held().commits;
  auto first = command(msg_context("b", R"({"n": 1})"));
  auto second = command(msg_cancel("a"));
  BOOST_CHECK(first->empty());
  BOOST_CHECK(second->empty());
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::cancelled);  // handled meanwhile
  BOOST_REQUIRE_EQUAL(held().held_events, 2u);
  commit();
  BOOST_CHECK_EQUAL(held().commits - commits_before, 1u);
  BOOST_CHECK(reply_in(first).is_ok());
  BOOST_CHECK(reply_in(second).is_ok());
}

// Rule 5 and an owed answer: a completion's persist covers the command sent
// before it. Order forced: [client: context change on b: persist held, answer
// owed] [worker: a's result] [sup: persist, awaits] [journal: one commit of
// both] [sup: the completion's ack -> applied, and the owed answer] [client: ok].
BOOST_FIXTURE_TEST_CASE(a_completions_commit_also_carries_an_owed_answer, ack_fixture) {
  start_committed(two_stage_spec, /*drive=*/true);
  auto answer = command(msg_context("b", "{}"));
  worker_sends(state().stage(idx("a")).run, true, {{"a", 1}});
  sched->run();
  BOOST_CHECK(answer->empty());
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);  // awaiting its commit
  commit();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  BOOST_CHECK(reply_in(answer).is_ok());
}

// A supervisor stopped while an answer is owed answers with an error, never
// ok, and never leaves the client waiting. Order forced: [client: cancel a:
// persist held] [sup: stop] [client: the error].
BOOST_FIXTURE_TEST_CASE(a_stop_while_an_answer_is_owed_answers_an_error, ack_fixture) {
  start_committed(two_stage_spec, /*drive=*/true);
  auto answer = command(msg_cancel("a"));
  BOOST_CHECK(answer->empty());
  caf::anon_send(sup, actors::stop_atom::value);
  sched->run();
  auto r = reply_in(answer);
  BOOST_CHECK_EQUAL(int(r.code), int(actors::reply::unavailable));
  BOOST_CHECK_MESSAGE(r.message.find("stopped before the journal confirmed") != std::string::npos, r.message);
  sup = caf::actor{};
}

// Creation through the director (what POST /pipelines asks). Order forced:
// [client: create] [director: spawns the supervisor, hands it the answer]
// [sup: pipeline_created persisted, held] -- no answer, yet the pipeline is
// hosted -- [journal: commit] [sup: the ack] [client: ok]; and, on a second
// director whose journal fails instead, [journal: fails] [client: the error].
BOOST_FIXTURE_TEST_CASE(a_creation_is_answered_only_after_pipeline_created_is_committed, ack_fixture) {
  actors::director_config dc;
  dc.journal = journal;
  dc.workers = std::make_shared<manual_workers>(log);
  dc.clock_ms = [this] { return ++clock; };
  auto dir = sys->spawn(actors::director, dc);
  sched->run();
  auto spec = *parse_spec_text(two_stage_spec);
  auto created = send_request(dir, caf::make_message(actors::create_atom::value, std::string("p-1"), spec,
                                                     std::string()));
  sched->run();
  BOOST_CHECK_MESSAGE(created->empty(), "answered before the commit: " << caf::to_string(*created));
  BOOST_CHECK(is_held(event_type::pipeline_created));
  auto listed = std::make_shared<std::vector<std::string>>();
  sys->spawn([listed, dir](caf::event_based_actor* self, int) {
    self->request(dir, caf::infinite, actors::list_atom::value)
        .then([listed](std::vector<std::string>& ids) { *listed = ids; });
  }, 0);
  sched->run();
  BOOST_CHECK_EQUAL(listed->size(), 1u);  // the director went on meanwhile
  commit();
  auto r = reply_in(created);
  BOOST_CHECK_MESSAGE(r.is_ok(), r.message);
  BOOST_CHECK_EQUAL(r.seq, 1u);

  // A second creation whose commit fails.
  auto second = send_request(dir, caf::make_message(actors::create_atom::value, std::string("p-2"), spec,
                                                    std::string()));
  sched->run();
  BOOST_CHECK(second->empty());
  fail("disk full (test)");
  auto failed = reply_in(second);
  BOOST_CHECK_EQUAL(int(failed.code), int(actors::reply::unavailable));
  BOOST_CHECK_MESSAGE(failed.message == "journal failed: disk full (test)", failed.message);
  caf::anon_send(dir, actors::stop_atom::value);
  sched->run();
}

BOOST_AUTO_TEST_SUITE_END()
