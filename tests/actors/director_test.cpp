// The director on a real, multi-threaded actor system: it hosts 10,000
// pipelines at once, routes requests to their supervisors, and refuses a
// duplicate id. Completion is observed through watchers, never with sleeps.
#include <boost/test/unit_test.hpp>

#include <set>

#include <caf/all.hpp>

#include "dairector/actors/director.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/plan.hpp"
#include "real_system.hpp"

using namespace dairector;
using namespace dairector::actors;

namespace {

using testing::real_system;

/// A director whose pipelines start nothing by themselves.
caf::actor idle_director(real_system& rs) {
  director_config dc;
  dc.drive = false;
  return rs.sys->spawn(actors::director, dc);
}

std::shared_ptr<const pipeline_spec> two_stages() {
  auto spec = parse_spec_text(R"({"name": "t", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]})");
  BOOST_REQUIRE(spec.ok());
  return *spec;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(director)

BOOST_AUTO_TEST_CASE(hosts_ten_thousand_pipelines_to_the_end) {
  real_system rs;
  caf::scoped_actor self{*rs.sys};
  auto journal = rs.sys->spawn(memory_journal, memory_journal_events_max);
  director_config dc;
  dc.journal = journal;
  auto dir = rs.sys->spawn(actors::director, dc);
  auto spec = two_stages();
  constexpr int pipelines = 10'000;
  for (int k = 0; k < pipelines; ++k)
    self->request(dir, caf::infinite, create_atom::value, "p-" + std::to_string(k), spec, std::string())
        .receive([](reply& r) { BOOST_REQUIRE_MESSAGE(r.is_ok(), r.message); },
                 [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  // Watch each through the director's routing; count those done.
  int done = 0;
  for (int k = 0; k < pipelines; ++k)
    self->request(dir, caf::infinite, "p-" + std::to_string(k),
                  caf::make_message(watch_atom::value, caf::actor{self}))
        .receive([&](system_state& s) { done += outcome(s) == pipeline_outcome::done; },
                 [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  std::set<std::string> finished;
  bool timed_out = false;
  while (done + static_cast<int>(finished.size()) < pipelines && !timed_out) {
    self->receive(
        [&](state_update& u) {
          if (outcome(u.state) == pipeline_outcome::done) finished.insert(u.state.pipeline());
        },
        caf::after(std::chrono::seconds(60)) >> [&] { timed_out = true; });
  }
  BOOST_CHECK(!timed_out);
  std::vector<std::string> ids;
  self->request(dir, caf::infinite, list_atom::value).receive([&](std::vector<std::string>& v) { ids = v; },
                                                              [](caf::error&) {});
  BOOST_CHECK_EQUAL(ids.size(), std::size_t(pipelines));
  self->send(dir, stop_atom::value);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(refuses_a_duplicate_id_and_an_unknown_pipeline) {
  real_system rs;
  caf::scoped_actor self{*rs.sys};
  auto dir = idle_director(rs);
  auto spec = two_stages();
  reply first, second;
  self->request(dir, caf::infinite, create_atom::value, std::string("p-1"), spec, std::string())
      .receive([&](reply& r) { first = r; }, [](caf::error&) {});
  self->request(dir, caf::infinite, create_atom::value, std::string("p-1"), spec, std::string())
      .receive([&](reply& r) { second = r; }, [](caf::error&) {});
  BOOST_CHECK(first.is_ok());
  BOOST_CHECK_EQUAL(int(second.code), int(reply::invalid));
  BOOST_CHECK_MESSAGE(second.message.find("already exists") != std::string::npos, second.message);
  bool unknown_failed = false;
  self->request(dir, caf::infinite, lookup_atom::value, std::string("nope"))
      .receive([](caf::actor&) {}, [&](caf::error&) { unknown_failed = true; });
  BOOST_CHECK(unknown_failed);
  // Routed: a start through the director reaches the supervisor.
  reply started;
  self->request(dir, caf::infinite, std::string("p-1"),
                caf::make_message(start_atom::value, std::string("a"), std::string("user:ana")))
      .receive([&](reply& r) { started = r; }, [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  BOOST_CHECK_MESSAGE(started.is_ok(), started.message);
  self->send(dir, stop_atom::value);
}

// A clean stop loses nothing: the director ends only after every
// supervisor has (their last appends are then already at the journal).
BOOST_AUTO_TEST_CASE(stops_after_its_supervisors) {
  real_system rs;
  caf::scoped_actor self{*rs.sys};
  auto dir = idle_director(rs);
  std::set<caf::actor_addr> sups;
  for (const char* id : {"p-1", "p-2", "p-3"}) {
    self->request(dir, caf::infinite, create_atom::value, std::string(id), two_stages(), std::string())
        .receive([](reply& r) { BOOST_REQUIRE(r.is_ok()); }, [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
    self->request(dir, caf::infinite, lookup_atom::value, std::string(id))
        .receive(
            [&](caf::actor& sup) {
              self->monitor(sup);
              sups.insert(sup.address());
            },
            [](caf::error& e) { BOOST_FAIL(caf::to_string(e)); });
  }
  self->monitor(dir);
  self->send(dir, stop_atom::value);
  std::vector<caf::actor_addr> downs;
  while (downs.size() < 4) self->receive([&](caf::down_msg& dm) { downs.push_back(dm.source); });
  BOOST_CHECK(downs.back() == dir.address());
  BOOST_CHECK(std::set<caf::actor_addr>(downs.begin(), downs.end() - 1) == sups);
}

BOOST_AUTO_TEST_SUITE_END()
