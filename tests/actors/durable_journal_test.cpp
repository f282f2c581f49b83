// The durable journal's actor side, over a stand-in store, each test naming
// the interleaving it forces (the journal and its committer are stepped one
// message at a time):
//   - the pipeline of batches: batch N+1 forms while the committer writes N,
//     and goes the moment N is answered; a request that must see everything
//     (a history) sends the forming batch at once, behind the one in flight;
//     a failed batch fails the one behind it too, and nothing is acknowledged;
//   - a shared journal's fencing: a commit in which the backend refuses one
//     pipeline's events (another server owns it now, errc::fenced) answers
//     the others as durable, fails only that pipeline's persists, tells only
//     its appenders, and the journal goes on;
//   - its metrics (GET /metrics): the backlog is what is queued plus what is
//     in flight, events count by type only once durable, and every commit is
//     timed once.
// The stand-in fences the pipelines a test names and fails the appends a test
// names (the backends' own fencing and faults are tested in journal.backends).
#include <set>

#include "harness.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {

// Keeps events in memory; refuses those of `fenced` as a shared backend
// would; the append numbered `fail_at` (from 1) fails as an I/O error would,
// and, as the interface requires, so does every append after it.
class stand_in_store final : public journal_store {
public:
  stand_in_store() : journal_store("stand-in", {}) {}
  std::set<std::string> fenced;
  std::vector<event> durable;
  std::vector<std::string> last_fenced;
  std::vector<std::size_t> batches;  // the size of each append, in order
  std::size_t appends = 0, fail_at = 0;

  std::optional<error> append(std::span<const event> events) override {
    ++appends;
    batches.push_back(events.size());
    if (fail_at != 0 && appends >= fail_at) return failure("injected I/O fault");
    std::set<std::string> refused;
    last_append_pos_ = 0;
    for (const event& e : events) {
      if (fenced.count(e.pipeline)) {
        refused.insert(e.pipeline);
        continue;
      }
      durable.push_back(e);
      if (last_append_pos_ == 0) last_append_pos_ = durable.size();  // positions from 1, as a backend's
    }
    if (refused.empty()) return std::nullopt;
    last_fenced.assign(refused.begin(), refused.end());
    return make_error(errc::fenced, "pipeline '" + *refused.begin() + "' is owned by node b now");
  }
  std::vector<std::string> take_fenced() override { return std::exchange(last_fenced, {}); }
  result<std::vector<event>> history(const std::string& pipeline, journal_damage*) override {
    std::vector<event> out;
    for (const event& e : durable)
      if (e.pipeline == pipeline) out.push_back(e);
    return out;
  }
  result<std::vector<positioned_event>> events_after(std::uint64_t after, std::size_t limit) override {
    std::vector<positioned_event> out;
    for (std::size_t k = static_cast<std::size_t>(after); k < durable.size() && out.size() < limit; ++k)
      out.push_back({k + 1, durable[k], nullptr});
    return out;
  }
  result<std::vector<journal_damage>> gaps() override { return std::vector<journal_damage>{}; }
  result<std::vector<pipeline_summary>> pipelines() override { return std::vector<pipeline_summary>{}; }
  std::optional<error> put_meta(const std::string&, const std::string&) override { return std::nullopt; }
  result<std::optional<std::string>> get_meta(const std::string&) override { return std::optional<std::string>(); }
};

event an_event(const std::string& pipeline, std::uint64_t seq) {
  event e;
  e.pipeline = pipeline;
  e.seq = seq;
  e.type = event_type::stage_started;
  e.by = "system";
  return e;
}

// What one appender saw: its persists' answers and the journal's failures.
struct appender_log {
  std::vector<std::string> answers;  // "seq N" or "error: ..."
  std::vector<std::string> failures;
};

using go_atom = caf::atom_constant<caf::atom("tgo")>;

// On (go, events, persist flags) sends them to the journal in order.
caf::behavior appender(caf::event_based_actor* self, caf::actor journal, std::shared_ptr<appender_log> log) {
  return {
      [=](go_atom, const std::vector<event>& events, const std::vector<bool>& persist) {
        for (std::size_t k = 0; k < events.size(); ++k) {
          if (!persist[k]) {
            self->send(journal, actors::append_atom::value, events[k]);
            continue;
          }
          self->request(journal, caf::infinite, actors::persist_atom::value, events[k])
              .then([=](std::uint64_t seq) { log->answers.push_back("seq " + std::to_string(seq)); },
                    [=](caf::error& err) { log->answers.push_back("error: " + self->system().render(err)); });
        }
      },
      [=](actors::journal_failed_atom, const std::string& why) { log->failures.push_back(why); },
  };
}

// Runs exactly one message of `who` (not step(): that checks a supervisor's
// invariants, and there is none here).
void run_one(fixture& f, const caf::actor& who) {
  BOOST_REQUIRE(f.sched->prioritize(who));
  f.sched->run_once();
}

// The durable journal over a stand-in store, with its committer at hand.
struct journal_fixture : fixture {
  std::shared_ptr<stand_in_store> store = std::make_shared<stand_in_store>();
  caf::actor committer = sys->spawn(actors::journal_committer, std::shared_ptr<journal_store>(store));
  caf::actor durable = sys->spawn(actors::durable_journal, committer);
  std::shared_ptr<appender_log> log_a = std::make_shared<appender_log>(), log_b = std::make_shared<appender_log>();
  caf::actor a = sys->spawn(appender, durable, log_a), b = sys->spawn(appender, durable, log_b);
  ~journal_fixture() {
    for (const auto& who : {a, b, durable}) caf::anon_send_exit(who, caf::exit_reason::user_shutdown);
    sched->run();
  }
  /// `who` sends `events` (persisted where `persist` says) before anyone else runs.
  void sends(const caf::actor& who, std::vector<event> events, std::vector<bool> persist) {
    caf::anon_send(who, go_atom::value, std::move(events), std::move(persist));
    run_one(*this, who);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(durable_journal)

// Interleaving: [A persists p-1/1] [journal: queued; flush: batch 1 to the
// committer] [B persists p-2/1, A persists p-1/2] [journal: both queued; the
// flush finds batch 1 in flight: waits] [committer: batch 1] [journal: A's
// first answer; batch 2 (both) to the committer] [committer: batch 2]
// [journal: both answers]. Two commits, the second carrying everything that
// came while the first was written, and no answer before its commit.
BOOST_FIXTURE_TEST_CASE(the_next_batch_forms_while_one_is_written, journal_fixture) {
  sends(a, {an_event("p-1", 1)}, {true});
  run_one(*this, durable);  // p-1/1 queued, a flush behind it
  run_one(*this, durable);  // the flush: batch 1 handed over
  sends(b, {an_event("p-2", 1)}, {true});
  sends(a, {an_event("p-1", 2)}, {true});
  run_one(*this, durable);  // p-2/1 queued
  run_one(*this, durable);  // p-1/2 queued
  run_one(*this, durable);  // the flush: batch 1 is in flight, so it waits
  sends(b, {an_event("p-2", 2)}, {false});
  run_one(*this, durable);  // p-2/2 joins the waiting batch
  BOOST_CHECK_EQUAL(store->appends, 0u);
  run_one(*this, committer);  // batch 1
  BOOST_REQUIRE((store->batches == std::vector<std::size_t>{1u}));
  run_one(*this, durable);  // batch 1's answer; batch 2 goes
  run_one(*this, a);        // A hears of p-1/1
  BOOST_CHECK((log_a->answers == std::vector<std::string>{"seq 1"}));
  BOOST_CHECK(log_b->answers.empty());  // its event is in batch 2, not yet written
  run_one(*this, committer);  // batch 2
  BOOST_CHECK((store->batches == std::vector<std::size_t>{1u, 3u}));
  sched->run();
  while (sched->trigger_timeouts() > 0) sched->run();
  BOOST_CHECK((log_a->answers == std::vector<std::string>{"seq 1", "seq 2"}));
  BOOST_CHECK((log_b->answers == std::vector<std::string>{"seq 1"}));
  BOOST_CHECK((store->batches == std::vector<std::size_t>{1u, 3u}));  // nothing else was written
}

// A history sees every event sent before it, even one that has not reached
// the committer. Interleaving: [A persists p-1/1; batch 1 handed over] [A
// appends p-1/2 (not persisted: it would wait)] [client: history of p-1]
// [journal: p-1/2 queued] [journal: the history sends batch 2 behind batch 1,
// and the request behind both] [committer: 1, 2, the history].
BOOST_FIXTURE_TEST_CASE(a_history_waits_for_the_batches_before_it, journal_fixture) {
  sends(a, {an_event("p-1", 1)}, {true});
  run_one(*this, durable);
  run_one(*this, durable);  // batch 1 handed over
  sends(a, {an_event("p-1", 2)}, {false});
  auto seen = std::make_shared<std::vector<std::uint64_t>>();
  sys->spawn([seen, j = durable](caf::event_based_actor* self, int) {
    self->request(j, caf::infinite, actors::history_atom::value, std::string("p-1"))
        .then([seen](std::vector<event>& h) {
          for (const auto& e : h) seen->push_back(e.seq);
        });
  }, 0);
  run_one(*this, durable);  // p-1/2 queued (the client has not run yet)
  sched->run();
  BOOST_CHECK((store->batches == std::vector<std::size_t>{1u, 1u}));
  BOOST_CHECK((*seen == std::vector<std::uint64_t>{1u, 2u}));
}

// A failed batch, with another behind it at the committer: neither is
// acknowledged, every appender hears of it once, and nothing more is taken.
// Interleaving: [A persists p-1/1; batch 1 handed over] [B appends p-2/1,
// A persists p-1/2] [client: history, which sends batch 2 at once]
// [committer: batch 1 fails] [committer: batch 2 fails (the store takes no
// more)] [journal: both answers] [B persists again: refused at once].
BOOST_FIXTURE_TEST_CASE(a_batch_behind_a_failed_one_is_never_acknowledged, journal_fixture) {
  store->fail_at = 1;
  sends(a, {an_event("p-1", 1)}, {true});
  run_one(*this, durable);
  run_one(*this, durable);  // batch 1 handed over
  sends(b, {an_event("p-2", 1)}, {false});
  sends(a, {an_event("p-1", 2)}, {true});
  run_one(*this, durable);  // p-2/1
  run_one(*this, durable);  // p-1/2
  sys->spawn([j = durable](caf::event_based_actor* self, int) {
    self->request(j, caf::infinite, actors::history_atom::value, std::string("p-1")).then([](std::vector<event>&) {});
  }, 0);
  sched->run();
  BOOST_CHECK((store->batches == std::vector<std::size_t>{1u, 2u}));
  BOOST_CHECK(store->durable.empty());
  BOOST_REQUIRE_EQUAL(log_a->answers.size(), 2u);
  for (const auto& answer : log_a->answers)
    BOOST_CHECK_MESSAGE(answer.find("injected I/O fault") != std::string::npos, answer);
  BOOST_CHECK_EQUAL(log_b->failures.size(), 1u);  // its append was lost: told once
  sends(b, {an_event("p-2", 2)}, {true});
  sched->run();
  BOOST_REQUIRE_EQUAL(log_b->answers.size(), 1u);
  BOOST_CHECK_MESSAGE(log_b->answers[0].find("injected I/O fault") != std::string::npos, log_b->answers[0]);
  BOOST_CHECK_EQUAL(store->appends, 2u);  // refused by the journal, not tried
}


// Interleaving: A (p-1) appends then persists, B (p-2) persists then
// appends, all before the journal runs, so one commit holds all four; the
// backend fences p-2 in it. Then A persists again: the journal goes on.
BOOST_FIXTURE_TEST_CASE(a_fenced_pipeline_loses_only_its_own_events, fixture) {
  auto store = std::make_shared<stand_in_store>();
  store->fenced.insert("p-2");
  auto committer = sys->spawn(actors::journal_committer, std::shared_ptr<journal_store>(store));
  auto durable = sys->spawn(actors::durable_journal, committer);
  auto committed = std::make_shared<std::vector<event>>();
  auto positions = std::make_shared<std::vector<std::uint64_t>>();  // of each event told, from its notice
  auto subscriber = sys->spawn([committed, positions](caf::event_based_actor*, int) -> caf::behavior {
    return {[committed, positions](actors::committed_atom, std::uint64_t pos, const std::vector<event>& events) {
      committed->insert(committed->end(), events.begin(), events.end());
      for (std::size_t k = 0; k < events.size(); ++k) positions->push_back(pos + k);
    }};
  }, 0);
  caf::anon_send(durable, actors::subscribe_atom::value, subscriber);
  sched->run();
  auto log_a = std::make_shared<appender_log>(), log_b = std::make_shared<appender_log>();
  auto a = sys->spawn(appender, durable, log_a);
  auto b = sys->spawn(appender, durable, log_b);
  caf::anon_send(a, go_atom::value, std::vector<event>{an_event("p-1", 1), an_event("p-1", 2)},
                 std::vector<bool>{false, true});
  caf::anon_send(b, go_atom::value, std::vector<event>{an_event("p-2", 1), an_event("p-2", 2)},
                 std::vector<bool>{true, false});
  // Both appenders send everything before the journal takes its first message.
  for (const auto& who : {a, b}) {  // (not step(): it checks a supervisor's invariants; there is none)
    BOOST_REQUIRE(sched->prioritize(who));
    sched->run_once();
  }
  sched->run();
  while (sched->trigger_timeouts() > 0) sched->run();
  BOOST_CHECK_EQUAL(store->appends, 1u);  // one commit held all four
  BOOST_REQUIRE_EQUAL(store->durable.size(), 2u);
  for (const event& e : store->durable) BOOST_CHECK_EQUAL(e.pipeline, "p-1");
  BOOST_REQUIRE_EQUAL(log_a->answers.size(), 1u);
  BOOST_CHECK_EQUAL(log_a->answers[0], "seq 2");
  BOOST_CHECK(log_a->failures.empty());
  BOOST_REQUIRE_EQUAL(log_b->answers.size(), 1u);
  BOOST_CHECK_MESSAGE(log_b->answers[0].find("owned by node b now") != std::string::npos, log_b->answers[0]);
  BOOST_REQUIRE_EQUAL(log_b->failures.size(), 1u);  // told once, though it appended and persisted
  BOOST_CHECK_MESSAGE(log_b->failures[0].find("owned by node b now") != std::string::npos, log_b->failures[0]);
  BOOST_REQUIRE_EQUAL(committed->size(), 2u);  // subscribers see only what is durable
  for (const event& e : *committed) BOOST_CHECK_EQUAL(e.pipeline, "p-1");
  // The journal is not failed: A's next persist is durable and answered.
  caf::anon_send(a, go_atom::value, std::vector<event>{an_event("p-1", 3)}, std::vector<bool>{true});
  sched->run();
  BOOST_REQUIRE_EQUAL(log_a->answers.size(), 2u);
  BOOST_CHECK_EQUAL(log_a->answers[1], "seq 3");
  BOOST_CHECK_EQUAL(store->durable.size(), 3u);
  // Each notice says where its events are in the journal-wide order: the
  // fenced commit's survivors at 1 and 2, the next commit's event at 3.
  BOOST_REQUIRE_EQUAL(positions->size(), 3u);
  for (std::size_t k = 0; k < positions->size(); ++k) BOOST_CHECK_EQUAL((*positions)[k], k + 1);
  for (const auto& who : {a, b, subscriber, durable}) caf::anon_send_exit(who, caf::exit_reason::user_shutdown);
  sched->run();
}

// The numbers GET /metrics shows. Interleaving: [A persists p-1/1; batch 1
// handed over] [B persists p-2/1 and appends p-2/2: queued, due] [client asks
// for metrics: the journal asks the committer, behind batch 1] [A appends
// p-1/2: queued] [committer: batch 1, then the timings] [journal: batch 1's
// answer hands batch 2 (3 events) over; then the metrics: 3 in flight, 1
// durable]. Then [A appends p-1/3: queued, waiting for its delay] [client
// asks again] [committer: batch 2, the timings] [journal: 1 queued, 4 durable].
BOOST_FIXTURE_TEST_CASE(metrics_count_the_backlog_and_durable_events_by_type, journal_fixture) {
  auto typed = [](event e, event_type t) {
    e.type = t;
    return e;
  };
  auto got = std::make_shared<std::vector<actors::journal_metrics>>();
  auto ask_metrics = [&] {
    auto client = sys->spawn([got, j = durable](caf::event_based_actor* self, int) {
      self->request(j, caf::infinite, actors::journal_metrics_atom::value)
          .then([got](actors::journal_metrics& m) { got->push_back(m); });
    }, 0);
    run_one(*this, client);   // its request
    run_one(*this, durable);  // the journal asks the committer
  };
  const auto started = static_cast<std::size_t>(event_type::stage_started);
  const auto completed = static_cast<std::size_t>(event_type::stage_completed);
  sends(a, {an_event("p-1", 1)}, {true});
  run_one(*this, durable);
  run_one(*this, durable);  // batch 1 handed over
  sends(b, {typed(an_event("p-2", 1), event_type::stage_completed), an_event("p-2", 2)}, {true, false});
  run_one(*this, durable);  // p-2/1
  run_one(*this, durable);  // p-2/2
  run_one(*this, durable);  // the flush: due behind batch 1
  ask_metrics();
  sends(a, {an_event("p-1", 2)}, {false});
  run_one(*this, durable);   // p-1/2 joins the due batch
  run_one(*this, committer);  // batch 1
  run_one(*this, committer);  // the timings
  run_one(*this, durable);    // batch 1 answered: batch 2 handed over
  run_one(*this, durable);    // the timings: the metrics answered
  sched->run();
  BOOST_REQUIRE_GE(got->size(), 1u);
  const auto& first = got->front();
  BOOST_CHECK_EQUAL(first.backlog_events, 3u);  // batch 2, in flight
  BOOST_CHECK_EQUAL(first.committed[started], 1u);
  BOOST_CHECK_EQUAL(first.committed[completed], 0u);
  BOOST_CHECK_EQUAL(first.commit.commits, 1u);
  sends(a, {an_event("p-1", 3)}, {false});
  run_one(*this, durable);  // queued; it waits out its delay (no timer fires here)
  ask_metrics();
  sched->run();
  BOOST_REQUIRE_EQUAL(got->size(), 2u);
  const auto& second = got->back();
  BOOST_CHECK_EQUAL(second.backlog_events, 1u);  // p-1/3, queued
  BOOST_CHECK_EQUAL(second.committed[started], 3u);
  BOOST_CHECK_EQUAL(second.committed[completed], 1u);
  BOOST_CHECK_EQUAL(second.commit.commits, store->appends);
  std::uint64_t timed = 0;
  for (auto n : second.commit.counts) timed += n;
  BOOST_CHECK_EQUAL(timed, store->appends);  // each commit in exactly one bucket
  BOOST_CHECK_GE(second.commit.seconds_sum, 0.0);
  // The committer's CPU in its appends: its own thread's, within their wall
  // time (a process-wide clock would count the test's other threads too).
  BOOST_CHECK_GE(second.commit.cpu_seconds_sum, 0.0);
  BOOST_CHECK_LE(second.commit.cpu_seconds_sum, second.commit.seconds_sum + 1e-3);
}

BOOST_AUTO_TEST_SUITE_END()
