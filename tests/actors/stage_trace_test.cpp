// The durable path's trace points (journal/include/dairector/journal/trace.hpp)
// on a real actor system with a real SQLite journal: a pipeline of blocking
// and non-blocking C++ stages runs to the end through the engine, traced, and
// the points say what rules 4 and 5 promise, stage by stage:
//   - a run's job leaves only after its start was sent to the journal (rule 4);
//   - its completion is applied only after a commit ended between the result
//     and the answer (rule 5: disk before memory);
//   - the next start comes only after that.
// Only the order of points joined by cause is checked (each is marked before
// the message that causes the next is sent), never a duration.
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "dairector/engine.hpp"
#include "dairector/plan.hpp"
#include "dairector/journal/trace.hpp"
#include "real_system.hpp"

using namespace dairector;

namespace {

using testing::real_system;
using testing::scratch_dir;
using trace::point;

const char* chain_spec = R"({"name": "t", "stages": [
  {"name": "a", "run": {"handler": "quick"}},
  {"name": "b", "after": ["a"], "run": {"handler": "slow"}},
  {"name": "c", "after": ["b"], "run": {"handler": "quick"}},
  {"name": "d", "after": ["c"], "run": {"handler": "slow"}}]})";
constexpr std::size_t runs = 4;

std::vector<std::int64_t> times_of(const std::vector<trace::sample>& s, point p) {
  std::vector<std::int64_t> out;
  for (const auto& x : s)
    if (x.at == p) out.push_back(x.ns);
  std::sort(out.begin(), out.end());
  return out;
}

// The first time in `t` at or after `from`, if any.
std::optional<std::int64_t> first_after(const std::vector<std::int64_t>& t, std::int64_t from) {
  auto it = std::lower_bound(t.begin(), t.end(), from);
  if (it == t.end()) return std::nullopt;
  return *it;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stage_trace)

BOOST_AUTO_TEST_CASE(each_stage_is_sent_run_committed_then_applied) {
  scratch_dir dir;  // first: removed once the system has stopped
  real_system rs;
  engine_options opt;
  opt.journal = (dir.path / "journal.db").string();
  auto e = dairector::engine::open(*rs.sys, opt);
  BOOST_REQUIRE_MESSAGE(e.ok(), (e.ok() ? std::string() : e.err().message));
  (*e)->handlers().add("quick", [](const json&) -> result<json> { return json{{"ok", true}}; });
  (*e)->handlers().add("slow", [](const json&) -> result<json> { return json{{"ok", true}}; }, /*blocking=*/true);

  std::vector<trace::sample> samples(10'000);
  trace::start(samples);
  auto p = (*e)->start("p1", std::string_view(chain_spec));
  BOOST_REQUIRE(p.ok());
  auto s = p->wait();
  samples.resize(trace::stop());
  BOOST_REQUIRE(s.ok());
  BOOST_REQUIRE(outcome(*s) == pipeline_outcome::done);
  (*e)->stop();

  const auto started = times_of(samples, point::start_sent), jobs = times_of(samples, point::job_received),
             results = times_of(samples, point::result_received), answered = times_of(samples, point::persist_answered),
             commits = times_of(samples, point::commit_ended), syncs = times_of(samples, point::sync_began),
             appends = times_of(samples, point::append_received);
  BOOST_REQUIRE_EQUAL(started.size(), runs);
  BOOST_REQUIRE_EQUAL(jobs.size(), runs);
  BOOST_REQUIRE_EQUAL(results.size(), runs);
  BOOST_REQUIRE_EQUAL(answered.size(), runs);
  for (std::size_t k = 0; k < runs; ++k) {
    BOOST_TEST_CONTEXT("run " << k) {
      BOOST_CHECK_LE(started[k], jobs[k]);
      BOOST_CHECK_LE(jobs[k], results[k]);
      // The start reached the journal (its append is taken after it was sent).
      BOOST_CHECK(first_after(appends, started[k]).has_value());
      // Rule 5: a COMMIT began after the result and ended before its answer
      // (a commit under way when the result came may end in between: the
      // committer writes one batch at a time, so the next one begins after).
      auto sync = first_after(syncs, results[k]);
      BOOST_REQUIRE(sync);
      auto commit = first_after(commits, *sync);
      BOOST_REQUIRE(commit);
      BOOST_CHECK_LE(*commit, answered[k]);
      BOOST_CHECK_LE(results[k], answered[k]);
      if (k + 1 < runs) BOOST_CHECK_LE(answered[k], started[k + 1]);
    }
  }
}

BOOST_AUTO_TEST_CASE(nothing_is_recorded_unless_started) {
  std::vector<trace::sample> samples(4);
  trace::start(samples);
  trace::mark(point::start_sent);
  BOOST_CHECK_EQUAL(trace::stop(), 1u);
  trace::mark(point::start_sent);  // stopped: dropped
  trace::start(samples);
  for (int k = 0; k < 10; ++k) trace::mark(point::commit_ended);  // past the buffer: dropped
  BOOST_CHECK_EQUAL(trace::stop(), samples.size());
  BOOST_CHECK(samples.back().at == point::commit_ended);
}

BOOST_AUTO_TEST_SUITE_END()
