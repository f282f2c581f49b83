// The durable journal under the test coordinator (the test decides when each
// actor runs): the real SQLite journal actor, a scratch journal file, and a
// read-only store beside it to see what is on disk. Each test names the interleaving it forces.
#include <unistd.h>

#include <filesystem>

#include "dairector/journal/open.hpp"
#include "dairector/plan.hpp"
#include "harness.hpp"
#include "real_system.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {


// Records every state_update and journal failure it is sent.
struct watch_log {
  std::vector<event> applied;
  std::vector<std::string> journal_failures;
};

struct sqlite_fixture : fixture {
  scratch_dir dir;
  std::string path = (dir.path / "journal.db").string();
  std::shared_ptr<watch_log> seen = std::make_shared<watch_log>();
  caf::actor committer;  // the journal's writer: owns the store

  explicit sqlite_fixture(journal_options opt = {}) {
    caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);  // the memory journal
    sched->run();
    open_journal(opt);
    auto watched = seen;
    watchers.push_back(sys->spawn(
        [watched](caf::event_based_actor*, int) -> caf::behavior {
          return {
              [watched](actors::state_update& u) { watched->applied.push_back(u.applied); },
              [watched](actors::journal_failed_atom, const std::string& why) { watched->journal_failures.push_back(why); },
          };
        },
        0));
  }
  ~sqlite_fixture() {
    for (auto& w : watchers) caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  }
  void open_journal(journal_options opt) {
    auto store = dairector::open_journal(path, opt);
    BOOST_REQUIRE_MESSAGE(store.ok(), (store.ok() ? "" : store.err().message));
    committer = sys->spawn(actors::journal_committer, std::shared_ptr<journal_store>(std::move(*store)));
    journal = sys->spawn(actors::durable_journal, committer);
  }
  /// What is durable: read by a second, read-only store, as `status` would.
  std::vector<event> on_disk() {
    auto store = dairector::open_journal(path, {.read_only = true});
    if (!store) return {};
    auto h = (*store)->history("p-1");
    return h ? *h : std::vector<event>{};
  }
  bool on_disk_has(event_type t, stage_index stage) {
    for (const auto& e : on_disk())
      if (e.type == t && e.stage == stage) return true;
    return false;
  }
  bool watcher_saw(event_type t, stage_index stage) const {
    for (const auto& e : seen->applied)
      if (e.type == t && e.stage == stage) return true;
    return false;
  }
  /// Runs every actor that has messages except `a`.
  void run_all_but(const caf::actor& a) {
    auto* held = caf::actor_cast<caf::abstract_actor*>(a);
    sched->run_jobs_filtered([held](caf::resumable* r) { return dynamic_cast<caf::abstract_actor*>(r) != held; });
  }
  /// A second pipeline, "p-2", on the same journal; it starts nothing by itself.
  caf::actor second_pipeline() {
    actors::supervisor_config sc;
    sc.pipeline = "p-2";
    sc.spec = *parse_spec_text(two_stage_spec);
    sc.journal = journal;
    sc.workers = std::make_shared<manual_workers>(log);
    sc.clock_ms = [this] { return ++clock; };
    sc.drive = false;
    return actors::spawn_supervisor(*sys, sc);
  }
  /// The journal's {commits, events} so far (runs pending messages, no timers).
  std::vector<std::uint64_t> journal_stats() {
    auto out = std::make_shared<std::vector<std::uint64_t>>();
    sys->spawn([out, j = journal](caf::event_based_actor* self, int) {
      self->request(j, caf::infinite, actors::journal_stats_atom::value)
          .then([out](std::vector<std::uint64_t>& s) { *out = s; });
    }, 0);
    sched->run();
    return *out;
  }
  void send_start(const std::string& stage) {
    caf::anon_send(sup, actors::start_atom::value, stage, std::string("user:ana"));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(journal)

// Rule 4. Order forced: [sup: start] (state shows it) [worker: the job]
// [journal: the start joins the batch] [journal: flush] (now on disk). A
// client's start is persisted, so it does not wait for company (its answer
// waits for this commit: actors.ack); the driver's starts do (below).
BOOST_FIXTURE_TEST_CASE(a_start_is_visible_before_it_is_durable, sqlite_fixture) {
  start(two_stage_spec, /*drive=*/false);
  settle();
  BOOST_REQUIRE_EQUAL(on_disk().size(), 1u);  // pipeline_created
  send_start("a");
  step(sup);
  run_all_but(journal);  // the worker gets its job
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);  // in memory, dispatched...
  BOOST_CHECK_EQUAL(log->jobs.size(), 1u);
  BOOST_CHECK(!on_disk_has(event_type::stage_started, idx("a")));      // ...not yet on disk
  step(journal);  // the start joins the batch
  BOOST_CHECK(!on_disk_has(event_type::stage_started, idx("a")));
  step(journal);  // the flush hands the batch to the committer
  BOOST_CHECK(!on_disk_has(event_type::stage_started, idx("a")));
  step(committer);  // which commits it
  BOOST_CHECK(on_disk_has(event_type::stage_started, idx("a")));
  settle();
}

// Rule 5. Order forced: [sup: result -> persist, await] [journal: persist]
// [journal: flush, batch handed over] [committer: commit] [journal: ack]
// [sup: applies; b starts]. Until the last step the
// completion is in no state, at no watcher and behind no downstream start.
BOOST_FIXTURE_TEST_CASE(a_completion_is_never_visible_before_it_is_durable, sqlite_fixture) {
  start(two_stage_spec);
  settle();
  const std::uint64_t run = state().stage(idx("a")).run;
  worker_sends(run, true, {{"x", 1}});
  step(sup);  // the result: persist requested, the supervisor awaits
  auto invisible = [&](const char* when) {
    BOOST_CHECK_MESSAGE(state().status(idx("a")) == stage_status::running, when);
    BOOST_CHECK_MESSAGE(!watcher_saw(event_type::stage_completed, idx("a")), when);
    BOOST_CHECK_MESSAGE(log->jobs.size() == 1u, when);  // no job for b
    BOOST_CHECK_MESSAGE(state().status(idx("b")) == stage_status::pending, when);
  };
  run_all_but(journal);
  invisible("persist requested, journal not run: everything else ran");
  step(journal);  // the persist joins the batch
  invisible("in the batch, not committed");
  BOOST_CHECK(!on_disk_has(event_type::stage_completed, idx("a")));
  step(journal);  // the batch goes to the committer
  invisible("handed over, not committed");
  BOOST_CHECK(!on_disk_has(event_type::stage_completed, idx("a")));
  step(committer);  // the commit
  BOOST_CHECK(on_disk_has(event_type::stage_completed, idx("a")));
  invisible("durable, the journal has not heard yet");
  step(journal);  // the committer's answer: the ack goes out
  invisible("durable, ack not yet handled");
  step(sup);  // the ack: applied, and the driver starts b
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::running);
  settle();
  BOOST_CHECK(watcher_saw(event_type::stage_completed, idx("a")));
}

// Rule 5 with a cancel. Order forced: [sup: result -> persist, await]
// [cancel queued at sup] [sup: skips it] [journal x2, committer, journal]
// [sup: completion]
// [sup: cancel, refused: already completed].
BOOST_FIXTURE_TEST_CASE(a_cancel_during_the_write_is_handled_after_it, sqlite_fixture) {
  start(two_stage_spec, /*drive=*/false);
  settle();
  send_start("a");
  settle();
  worker_sends(state().stage(idx("a")).run, true, {{"x", 1}});
  step(sup);
  caf::anon_send(sup, actors::cancel_atom::value, std::string("a"), std::string("user:ana"));
  step(sup);  // awaiting: the cancel stays queued
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::running);
  step(journal);
  step(journal);
  step(committer);
  step(journal);
  step(sup);
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  settle();
  BOOST_CHECK_EQUAL(state().status(idx("a")), stage_status::completed);
  auto disk = on_disk();
  BOOST_CHECK(disk.back().type == event_type::stage_completed);  // the cancel wrote nothing
}

// Group commit: completions of two pipelines queued before the journal runs
// share one transaction, and both are acknowledged after it.
BOOST_FIXTURE_TEST_CASE(queued_writes_share_one_commit, sqlite_fixture) {
  start(two_stage_spec, /*drive=*/false);
  auto second = second_pipeline();
  settle();
  for (const auto& s : {sup, second}) caf::anon_send(s, actors::start_atom::value, std::string("a"), std::string("user:ana"));
  settle();
  BOOST_REQUIRE_EQUAL(log->jobs.size(), 2u);  // each pipeline's first stage (both are run 2)
  const std::uint64_t before = journal_stats().at(0);
  // Both workers finish; both supervisors request a persist before the
  // journal runs at all.
  for (std::size_t k = 0; k < log->jobs.size(); ++k) {
    const auto& j = log->jobs[k];
    actors::stage_result r;
    r.pipeline = j.pipeline;
    r.stage_index = j.stage_index;
    r.run = j.run;
    r.capability = j.capability;
    r.ok = true;
    r.output_value = std::make_shared<const json>(json::object());
    r.worker = "worker:test";
    caf::anon_send(caf::actor_cast<caf::actor>(log->workers[k]), deliver_atom::value, std::move(r));
  }
  run_all_but(journal);
  BOOST_CHECK_EQUAL(state().status(0), stage_status::running);
  sched->run();
  BOOST_CHECK_EQUAL(journal_stats().at(0) - before, 1u);  // one transaction for both completions
  BOOST_CHECK_EQUAL(actors::inspect_supervisor(second).state.status(0), stage_status::completed);
  BOOST_CHECK_EQUAL(state().status(0), stage_status::completed);
  caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
}

// An answer means durable, with the real journal: two clients' commands on
// two pipelines are answered only after the commit that holds them, and it
// is one commit for both (no commit of its own per request). Order forced:
// [client 1: context change on p-1's a] [client 2: the same on p-2] [sup 1,
// sup 2: applied, persists sent] -- no answer, nothing on disk -- [journal:
// both persists, one flush] [sup 1, sup 2: the acks] [clients: ok].
BOOST_FIXTURE_TEST_CASE(client_commands_are_answered_after_the_commit_they_share, sqlite_fixture) {
  start(two_stage_spec, /*drive=*/false);
  auto second = second_pipeline();
  settle();
  const std::uint64_t before = journal_stats().at(0);
  std::vector<std::shared_ptr<caf::message>> answers;
  for (const auto& s : {sup, second})
    answers.push_back(send_request(s, caf::make_message(actors::context_atom::value, std::string("a"),
                                                        std::string(R"({"goal": 2})"), std::string("user:ana"))));
  run_all_but(journal);
  BOOST_CHECK_EQUAL(state().status(idx("b")), stage_status::pending);
  for (const auto& a : answers) BOOST_CHECK_MESSAGE(a->empty(), "answered before the commit: " << caf::to_string(*a));
  BOOST_CHECK(!on_disk_has(event_type::context_changed, idx("a")));
  sched->run();
  BOOST_CHECK_EQUAL(journal_stats().at(0) - before, 1u);  // one transaction for both commands
  BOOST_CHECK(on_disk_has(event_type::context_changed, idx("a")));
  for (const auto& a : answers) {
    BOOST_REQUIRE_MESSAGE(a->match_element<actors::reply>(0), "no reply: " << caf::to_string(*a));
    BOOST_CHECK(a->get_as<actors::reply>(0).is_ok());
  }
  caf::anon_send_exit(second, caf::exit_reason::user_shutdown);
}

// A lone pipeline: a start waits (at most journal_append_delay) and shares
// the commit of the next completion. Order forced: [a completes: commit 1]
// [b starts: queued, its delay not yet passed] [b completes: commit 2 holds
// b's start and b's completion]. Two commits for two runs, not four.
BOOST_FIXTURE_TEST_CASE(a_start_shares_the_commit_of_the_next_completion, sqlite_fixture) {
  start(two_stage_spec);
  settle();
  const auto before = journal_stats();
  worker_sends(state().stage(idx("a")).run, true, {{"a", 1}});
  sched->run();
  BOOST_REQUIRE_EQUAL(state().status(idx("b")), stage_status::running);
  BOOST_CHECK(!on_disk_has(event_type::stage_started, idx("b")));  // waiting for company
  worker_sends(state().stage(idx("b")).run, true, {{"b", 1}});
  sched->run();
  const auto after = journal_stats();
  BOOST_CHECK_EQUAL(after.at(0) - before.at(0), 2u);  // commits
  BOOST_CHECK_EQUAL(after.at(1) - before.at(1), 3u);  // events: a completed, b started, b completed
  BOOST_CHECK(on_disk_has(event_type::stage_completed, idx("b")));
  BOOST_CHECK(outcome(state()) == pipeline_outcome::done);
}

// A write fails (the fault seam: the 3rd event). The completion it carried
// is never applied, the watchers hear of it, starts are refused; on disk is
// exactly what was acknowledged, and a new supervisor recovers from it.
BOOST_AUTO_TEST_CASE(a_failed_write_is_never_acknowledged_and_resume_carries_on) {
  sqlite_fixture f({.fail_after_events = 2});
  f.start(two_stage_spec, /*drive=*/false);
  f.settle();  // commit 1: pipeline_created
  f.send_start("a");
  f.settle();  // commit 2: stage_started
  const std::uint64_t run = f.state().stage(f.idx("a")).run;
  f.worker_sends(run, true, {{"x", 1}});
  f.settle();  // commit 3 fails
  BOOST_CHECK_EQUAL(f.state().status(f.idx("a")), stage_status::running);  // never applied
  BOOST_REQUIRE_EQUAL(f.seen->journal_failures.size(), 1u);
  BOOST_CHECK_MESSAGE(f.seen->journal_failures[0].find("injected I/O fault") != std::string::npos,
                      f.seen->journal_failures[0]);
  auto answer = f.ask(actors::start_atom::value, std::string("b"), std::string("user:ana"));
  BOOST_REQUIRE(answer.match_element<actors::reply>(0));
  BOOST_CHECK_EQUAL(int(answer.get_as<actors::reply>(0).code), int(actors::reply::unavailable));
  auto disk = f.on_disk();
  BOOST_REQUIRE_EQUAL(disk.size(), 2u);  // created, started: the acknowledged part
  // Resume: a fresh journal actor (the fault is gone) and a recovered supervisor.
  caf::anon_send_exit(f.sup, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(f.journal, caf::exit_reason::user_shutdown);
  f.sched->run();
  f.sup = caf::actor{};
  f.journal = caf::actor{};
  f.sched->run();
  f.open_journal({});
  auto recovered = replay(disk);
  BOOST_REQUIRE(recovered.ok());
  f.recovered = *recovered;
  f.start(two_stage_spec);
  f.settle();
  // Rule 8: the run that was in flight is interrupted and started again, fresh.
  disk = f.on_disk();
  BOOST_CHECK(disk.at(2).type == event_type::stage_interrupted && disk.at(2).run == run);
  BOOST_CHECK(disk.at(3).type == event_type::stage_started && disk.at(3).run > run);
  const std::uint64_t again = f.state().stage(f.idx("a")).run;
  f.worker_sends(again, true, {{"x", 2}});
  f.settle();
  f.worker_sends(f.state().stage(f.idx("b")).run, true, {{"y", 2}});
  f.settle();
  BOOST_CHECK(outcome(f.state()) == pipeline_outcome::done);
  auto final_disk = f.on_disk();
  auto replayed = replay(final_disk);
  BOOST_REQUIRE(replayed.ok());
  BOOST_CHECK(same_facts(*replayed, f.state()));
}

// Replaying the journal equals the live state, checked after every step of a
// pipeline with a fan-in, a context change, a cancel and a rejection.
BOOST_FIXTURE_TEST_CASE(replay_equals_the_live_state_at_every_quiet_point, sqlite_fixture) {
  start(R"({"name": "t", "stages": [
    {"name": "a", "run": {"builtin": "echo"}, "confirm": "Approve a?"},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "c", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "d", "after": ["b", "c"], "run": {"builtin": "echo"}}]})");
  int checked = 0;
  auto same = [&](const char* when) {
    settle();
    auto r = replay(on_disk());
    BOOST_REQUIRE_MESSAGE(r.ok(), when << ": " << (r.ok() ? "" : r.err().message));
    BOOST_CHECK_MESSAGE(same_facts(*r, state()), when << ": replay differs from the live state at seq "
                                                       << state().seq());
    ++checked;
  };
  auto finish = [&](const std::string& stage, json out) {
    worker_sends(state().stage(idx(stage)).run, true, std::move(out));
  };
  same("created, a started");
  finish("a", {{"a", 1}});
  same("a completed, confirmation pending");
  ask(actors::resolve_atom::value, false, std::string("no"), std::string("user:ana"));
  same("rejected: a re-runs");
  finish("a", {{"a", 2}});
  same("a completed again");
  ask(actors::resolve_atom::value, true, std::string(""), std::string("user:ana"));
  same("approved: b and c started");
  finish("b", {{"b", 1}});
  same("b completed");
  ask(actors::cancel_atom::value, std::string("c"), std::string("user:ana"));
  same("c cancelled");
  ask(actors::context_atom::value, std::string("a"), std::string(R"({"goal": 2})"), std::string("user:ana"));
  same("context changed on a: b outdated");
  ask(actors::start_atom::value, std::string("c"), std::string("user:ana"));
  same("c started by hand");
  finish("b", {{"b", 2}});
  finish("c", {{"c", 2}});
  same("b and c completed: d started");
  finish("d", {{"d", 1}});
  same("done");
  BOOST_CHECK(outcome(state()) == pipeline_outcome::done);
  BOOST_CHECK_EQUAL(checked, 11);
}

BOOST_AUTO_TEST_SUITE_END()
