// Back-pressure (issue 6, item 4): a producer faster than the journal never
// makes a queue grow without bound. Each supervisor counts the events it sent
// to the journal that are not yet known durable (its backlog); at
// `journal_backlog_events_max` it refuses client commands with `behind` and
// leaves its own decisions and starts in the state until commits catch up.
//
// The journal here is a stand-in that holds everything it gets until the test
// commits it (held_journal.hpp), so "the journal is slow" is a step the test
// takes, never a sleep; each test names the interleaving it forces
// (docs/contributing.md#deterministic-actor-tests). A client's accepted command is answered only once its
// event is committed (actors.ack), so a client with a few requests in flight
// waits instead of filling the journal: the bound is reached by more clients
// than that, or by the supervisor's own starts.
#include "held_journal.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {

using go_atom = caf::atom_constant<caf::atom("tgo")>;

// Clients: at most `window` requests outstanding (one per client), each
// context change answered before the next is sent in its place, round robin
// over the pipelines, `total` in all.
struct load_tally {
  std::size_t ok = 0, behind = 0, other = 0, answered = 0;
  std::string first_behind, first_other;
};

struct load_state {
  std::vector<caf::actor> sups;
  std::size_t total = 0, sent = 0;
  std::shared_ptr<load_tally> tally;
};

void send_next(caf::event_based_actor* self, const std::shared_ptr<load_state>& st) {
  if (st->sent == st->total) return;
  const std::size_t k = st->sent++;
  const std::string context = "{\"n\": " + std::to_string(k) + "}";
  auto tally = st->tally;
  self->request(st->sups[k % st->sups.size()], caf::infinite, actors::context_atom::value, std::string("b"), context,
                std::string("user:load"))
      .then(
          [=](actors::reply& r) {
            ++tally->answered;
            if (r.is_ok()) ++tally->ok;
            else if (r.code == actors::reply::behind && ++tally->behind == 1) tally->first_behind = r.message;
            else if (r.code != actors::reply::behind && ++tally->other == 1) tally->first_other = r.message;
            send_next(self, st);
          },
          [=](caf::error& err) {
            ++tally->answered;
            if (++tally->other == 1) tally->first_other = actors::describe(err);
            send_next(self, st);
          });
}

caf::behavior load_client(caf::event_based_actor* self, std::vector<caf::actor> sups, std::size_t total,
                          std::size_t window, std::shared_ptr<load_tally> tally) {
  auto st = std::make_shared<load_state>(load_state{std::move(sups), total, 0, std::move(tally)});
  return {[=](go_atom) {
    for (std::size_t i = 0; i < window; ++i) send_next(self, st);
  }};
}

// More requests in flight than a pipeline's bound: many clients at once.
constexpr std::size_t many_clients = 256;

// One pipeline, b waits on a: with a held by its manual worker, a context
// change on b is always accepted and appends exactly one event.
const char* chain_spec = two_stage_spec;

// Eight stages that all start at once (the driver's own starts).
const char* wide_spec = R"({"name": "w", "stages": [
  {"name": "s1", "run": {"builtin": "echo"}}, {"name": "s2", "run": {"builtin": "echo"}},
  {"name": "s3", "run": {"builtin": "echo"}}, {"name": "s4", "run": {"builtin": "echo"}},
  {"name": "s5", "run": {"builtin": "echo"}}, {"name": "s6", "run": {"builtin": "echo"}},
  {"name": "s7", "run": {"builtin": "echo"}}, {"name": "s8", "run": {"builtin": "echo"}}]})";

struct backpressure_fixture : fixture {
  std::vector<caf::actor> sups;

  backpressure_fixture() {
    caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);  // the harness's memory journal
    journal = sys->spawn(held_journal, 0);
    sched->run();
  }
  ~backpressure_fixture() {
    for (const auto& s : sups) caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  }

  caf::actor spawn_pipeline(const std::string& id, const char* spec_text, std::uint64_t backlog_max) {
    actors::supervisor_config sc;
    sc.pipeline = id;
    sc.spec = *parse_spec_text(spec_text);
    sc.journal = journal;
    sc.workers = std::make_shared<manual_workers>(log);
    sc.clock_ms = [this] { return ++clock; };
    sc.journal_backlog_events_max = backlog_max;
    sups.push_back(actors::spawn_supervisor(*sys, sc));
    return sups.back();
  }
  held_journal_state& held() { return held_of(journal); }
  /// Commits everything held, and what the supervisors send meanwhile.
  void catch_up() {
    for (int guard = 0; guard < 100 && !held().held.empty(); ++guard) {
      caf::anon_send(journal, commit_atom::value, held().held_events);
      sched->run();
    }
    BOOST_REQUIRE(held().held.empty());
  }

  // Runs every message one at a time; after each, the journal holds at most
  // `journal_events_max` events and no supervisor is past its bound. (A
  // supervisor's own mailbox holds at most the client's window of requests
  // plus one sync answer: every client waits for its answers. It is not
  // measured: reading a CAF mailbox's size takes its messages out of the
  // inbox, and an idle actor would then miss its wake-up.)
  void run_bounded(std::size_t journal_events_max, const std::function<void(std::size_t)>& every_step = {}) {
    for (std::size_t steps = 0; sched->try_run_once(); ++steps) {
      BOOST_REQUIRE_LE(held().held_events, journal_events_max);
      for (const auto& s : sups) {
        const auto& st = actors::inspect_supervisor(s);
        BOOST_REQUIRE_LE(st.backlog(), st.cfg.journal_backlog_events_max);
        BOOST_REQUIRE_LE(st.runs.size(), st.state.size());  // one live run per stage at most
      }
      if (every_step) every_step(steps);
    }
  }

  // The pipeline's committed events: gapless from 1, no duplicate, in the
  // order applied, and they fold to the supervisor's state.
  void check_history(const caf::actor& s) {
    const auto& st = actors::inspect_supervisor(s);
    std::vector<event> h;
    for (const auto& e : held().committed)
      if (e.pipeline == st.cfg.pipeline) h.push_back(e);
    BOOST_REQUIRE_EQUAL(h.size(), st.state.seq());
    for (std::size_t k = 0; k < h.size(); ++k) BOOST_REQUIRE_EQUAL(h[k].seq, k + 1);
    auto folded = fold(h);
    BOOST_REQUIRE_MESSAGE(folded.ok(), (folded.ok() ? "" : folded.err().message));
    BOOST_CHECK(same_facts(*folded, st.state));
    BOOST_CHECK(check_invariants(*folded).empty());
  }

  actors::reply ask_reply(const caf::actor& s, caf::message request) {
    sup = s;
    auto m = ask(std::move(request));
    sup = {};
    BOOST_REQUIRE_MESSAGE(m.match_element<actors::reply>(0), "expected a reply, got " << caf::to_string(m));
    return m.get_as<actors::reply>(0);
  }
  /// A context change on b, answered once the journal committed it.
  actors::reply context_on_b(const caf::actor& s) {
    auto answer = send_request(s, caf::make_message(actors::context_atom::value, std::string("b"),
                                                    std::string("{}"), std::string("user:ana")));
    sched->run();
    BOOST_REQUIRE(answer->empty());  // not before the commit
    catch_up();
    BOOST_REQUIRE_MESSAGE(answer->match_element<actors::reply>(0), "expected a reply, got " << caf::to_string(*answer));
    return answer->get_as<actors::reply>(0);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(backpressure)

// A journal that never commits, 10,000 clients each sending one context
// change at once. Order forced: [sup: created, a started: 2 held] then
// 10,000 x [sup: context on b: accepted, one more event held, the answer
// kept | refused `behind`, answered], the journal committing nothing; then
// [journal: commit all] [sup: the answers of the accepted ones] [client: one
// more context change: accepted once committed].
BOOST_FIXTURE_TEST_CASE(client_commands_past_the_bound_are_refused_until_the_journal_commits, backpressure_fixture) {
  const std::uint64_t bound = actors::journal_backlog_events_max_default;
  auto s = spawn_pipeline("p-1", chain_spec, bound);
  sched->run();
  BOOST_REQUIRE_EQUAL(actors::inspect_supervisor(s).backlog(), 2u);
  auto tally = std::make_shared<load_tally>();
  constexpr std::size_t total = 10'000;
  auto client = sys->spawn(load_client, std::vector<caf::actor>{s}, total, total, tally);
  caf::anon_send(client, go_atom::value);
  run_bounded(bound);
  BOOST_CHECK_EQUAL(tally->ok, 0u);  // accepted up to the bound, none answered before a commit
  BOOST_CHECK_EQUAL(tally->behind, total - (bound - 2));
  BOOST_CHECK_EQUAL(tally->answered, tally->behind);
  BOOST_CHECK_EQUAL(tally->other, 0u);
  BOOST_CHECK_MESSAGE(tally->first_behind == "the journal is 1024 events behind pipeline 'p-1' (the bound is "
                                             "1024): retry once it catches up",
                      tally->first_behind);
  BOOST_CHECK_EQUAL(held().held_events_peak, bound);
  BOOST_CHECK(actors::inspect_supervisor(s).sync_asked);  // an ack was asked for, the journal holds it
  catch_up();
  BOOST_CHECK_EQUAL(tally->ok, bound - 2);  // up to the bound, nothing more, each once committed
  BOOST_CHECK_EQUAL(tally->answered, total);
  BOOST_CHECK_EQUAL(actors::inspect_supervisor(s).backlog(), 0u);
  BOOST_CHECK(context_on_b(s).is_ok());  // accepted again
  catch_up();
  check_history(s);
}

// The driver's own starts wait too, and go on in order as commits arrive.
// Bound 4, eight stages startable at once. Order forced: [sup: created + 3
// starts, then nothing: 4 held, a client start refused] then, until all
// eight run, [journal: commit one event] [sup: sync answered -> starts up to
// the bound again].
BOOST_FIXTURE_TEST_CASE(automatic_starts_wait_for_commits_and_keep_their_order, backpressure_fixture) {
  auto s = spawn_pipeline("p-1", wide_spec, 4);
  run_bounded(4);
  BOOST_CHECK_EQUAL(held().held_events, 4u);
  BOOST_CHECK_EQUAL(log->jobs.size(), 3u);
  auto refused = ask_reply(s, caf::make_message(actors::start_atom::value, std::string("s8"), std::string("user:ana")));
  BOOST_CHECK_EQUAL(int(refused.code), int(actors::reply::behind));
  for (int guard = 0; guard < 100 && !held().held.empty(); ++guard) {
    caf::anon_send(journal, commit_atom::value, std::size_t{1});
    run_bounded(4);
  }
  BOOST_CHECK_EQUAL(log->jobs.size(), 8u);  // every stage started, once
  std::vector<stage_index> started;  // in the order of history
  for (const auto& e : held().committed)
    if (e.type == event_type::stage_started) started.push_back(e.stage);
  BOOST_CHECK_EQUAL(started.size(), 8u);
  BOOST_CHECK(std::is_sorted(started.begin(), started.end()));  // as the driver found them startable
  BOOST_CHECK(std::adjacent_find(started.begin(), started.end()) == started.end());
  check_history(s);
}

// Rule 5 holds while behind: a completion is still made durable before it
// is applied, and nothing else is handled meanwhile. Bound 6. Order forced:
// [sup: created + 5 starts, 6 held] [worker of s1: result] [sup: persist,
// awaits] [client: cancel of s2 queued] [journal: commit all] [sup: s1
// completed, backlog 0, the three deferred starts] [sup: the cancel].
BOOST_FIXTURE_TEST_CASE(a_completion_while_behind_is_durable_before_it_is_applied, backpressure_fixture) {
  auto s = spawn_pipeline("p-1", wide_spec, 6);
  run_bounded(6);
  BOOST_REQUIRE_EQUAL(log->jobs.size(), 5u);
  sup = s;
  const std::uint64_t run = state().stage(idx("s1")).run;
  worker_sends(run, true, {{"x", 1}});
  step(s);  // the result: persist requested, the supervisor awaits
  caf::anon_send(s, actors::cancel_atom::value, std::string("s2"), std::string("user:ana"));
  step(s);  // awaiting: the cancel stays queued
  BOOST_CHECK_EQUAL(state().status(idx("s1")), stage_status::running);
  BOOST_CHECK_EQUAL(state().status(idx("s2")), stage_status::running);
  catch_up();
  BOOST_CHECK_EQUAL(state().status(idx("s1")), stage_status::completed);
  BOOST_CHECK_EQUAL(state().status(idx("s2")), stage_status::cancelled);
  const auto& h = held().committed;
  auto seq_of = [&](event_type t, stage_index i) {
    for (const auto& e : h)
      if (e.type == t && e.stage == i) return e.seq;
    return std::uint64_t{0};
  };
  const std::uint64_t completed = seq_of(event_type::stage_completed, idx("s1"));
  BOOST_CHECK_GT(completed, 0u);
  BOOST_CHECK_GT(seq_of(event_type::stage_started, idx("s6")), completed);  // deferred until after it
  BOOST_CHECK_GT(seq_of(event_type::stage_cancelled, idx("s2")), completed);
  sup = {};
  check_history(s);
}

// Several pipelines share one slow journal: 10,000 context changes from 256
// clients round robin over four pipelines (bound 16 each) while the journal
// commits eight events after every 50 messages the system handles, and
// whenever nothing else can run (every client waits for a commit). Order
// forced: the scheduler's FIFO order with [journal: commit 8] injected every
// 50 steps and when idle. The journal never holds more than 4 x 16 events;
// each pipeline refuses on its own backlog; once the journal has caught up
// every pipeline accepts and every history is whole.
BOOST_FIXTURE_TEST_CASE(several_supervisors_share_one_slow_journal, backpressure_fixture) {
  constexpr std::uint64_t bound = 16;
  for (int p = 1; p <= 4; ++p) spawn_pipeline("p-" + std::to_string(p), chain_spec, bound);
  sched->run();
  auto tally = std::make_shared<load_tally>();
  auto client = sys->spawn(load_client, sups, std::size_t{10'000}, many_clients, tally);
  caf::anon_send(client, go_atom::value);
  for (int guard = 0; guard < 100'000 && tally->answered < 10'000u; ++guard) {
    run_bounded(4 * bound, [&](std::size_t steps) {
      if (steps % 50 == 49) caf::anon_send(journal, commit_atom::value, std::size_t{8});
    });
    caf::anon_send(journal, commit_atom::value, std::size_t{8});  // idle: the clients wait for it
  }
  BOOST_CHECK_EQUAL(tally->answered, 10'000u);
  BOOST_CHECK_GT(tally->ok, 4 * bound);  // commits let more in than one bound's worth
  BOOST_CHECK_GT(tally->behind, 0u);
  BOOST_CHECK_EQUAL(tally->other, 0u);
  BOOST_CHECK_LE(held().held_events_peak, 4 * bound);
  catch_up();
  for (const auto& s : sups) {
    BOOST_CHECK_EQUAL(actors::inspect_supervisor(s).backlog(), 0u);
    BOOST_CHECK(context_on_b(s).is_ok());
  }
  catch_up();
  for (const auto& s : sups) check_history(s);
}

// A journal that keeps up refuses nothing: the in-memory journal answers the
// supervisor's sync, so a client one request at a time never sees `behind`
// even with a bound of 4. Order forced: the scheduler's FIFO order.
BOOST_FIXTURE_TEST_CASE(a_journal_that_keeps_up_refuses_nothing, backpressure_fixture) {
  caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
  journal = sys->spawn(actors::memory_journal, actors::memory_journal_events_max);
  auto s = spawn_pipeline("p-1", chain_spec, 4);
  auto tally = std::make_shared<load_tally>();
  auto client = sys->spawn(load_client, sups, std::size_t{1'000}, std::size_t{1}, tally);
  caf::anon_send(client, go_atom::value);
  sched->run();
  BOOST_CHECK_EQUAL(tally->ok, 1'000u);
  BOOST_CHECK_EQUAL(tally->behind, 0u);
  BOOST_CHECK_LE(actors::inspect_supervisor(s).backlog(), 4u);
  BOOST_CHECK_EQUAL(durable().size(), actors::inspect_supervisor(s).state.seq());
}

BOOST_AUTO_TEST_SUITE_END()
