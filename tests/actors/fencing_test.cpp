// A shared journal's fencing as the durable journal handles it: a commit in
// which the backend refuses one pipeline's events (another server owns it
// now, errc::fenced) answers the others as durable, fails only that
// pipeline's persists, tells only its appenders, and the journal goes on.
// The backend is a stand-in that fences the pipelines a test names (the
// PostgreSQL backend's own fencing is tested in journal.backends).
#include <set>

#include "harness.hpp"

using namespace dairector;
using namespace dairector::testing;

namespace {

// Keeps events in memory; refuses those of `fenced` as a shared backend would.
class fencing_store final : public journal_store {
public:
  fencing_store() : journal_store("stand-in", {}) {}
  std::set<std::string> fenced;
  std::vector<event> durable;
  std::vector<std::string> last_fenced;
  std::size_t appends = 0;

  std::optional<error> append(std::span<const event> events) override {
    ++appends;
    std::set<std::string> refused;
    for (const event& e : events) {
      if (fenced.count(e.pipeline)) refused.insert(e.pipeline);
      else durable.push_back(e);
    }
    if (refused.empty()) return std::nullopt;
    last_fenced.assign(refused.begin(), refused.end());
    return make_error(errc::fenced, "pipeline '" + *refused.begin() + "' is owned by node b now");
  }
  std::vector<std::string> take_fenced() override { return std::exchange(last_fenced, {}); }
  result<std::vector<event>> history(const std::string&, journal_damage*) override { return std::vector<event>{}; }
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

}  // namespace

BOOST_AUTO_TEST_SUITE(fencing)

// Interleaving: A (p-1) appends then persists, B (p-2) persists then
// appends, all before the journal runs, so one commit holds all four; the
// backend fences p-2 in it. Then A persists again: the journal goes on.
BOOST_FIXTURE_TEST_CASE(a_fenced_pipeline_loses_only_its_own_events, fixture) {
  auto store = std::make_shared<fencing_store>();
  store->fenced.insert("p-2");
  auto durable = sys->spawn(actors::durable_journal, std::shared_ptr<journal_store>(store));
  auto committed = std::make_shared<std::vector<event>>();
  auto subscriber = sys->spawn([committed](caf::event_based_actor*, int) -> caf::behavior {
    return {[committed](actors::committed_atom, const std::vector<event>& events) {
      committed->insert(committed->end(), events.begin(), events.end());
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
  for (const auto& who : {a, b, subscriber, durable}) caf::anon_send_exit(who, caf::exit_reason::user_shutdown);
  sched->run();
}

BOOST_AUTO_TEST_SUITE_END()
