// The engine facade (docs/embedding.md#the-engine) on a real actor system: a
// pipeline started, waited for, confirmed, rejected and cancelled through it;
// its refusals as errors with their codes; watching in seq order; a durable
// journal carried on by a second engine after the first stopped, and refused
// to a second engine while the first holds it. Everything is observed through
// the engine's own waits (answers and watch callbacks), never with sleeps.
#include <boost/test/unit_test.hpp>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>

#include <caf/all.hpp>

#include "dairector/engine.hpp"
#include "dairector/plan.hpp"
#include "real_system.hpp"

using namespace dairector;

namespace {

using testing::real_system;
using testing::scratch_dir;

// A C++ stage, then one that asks for a confirmation.
const char* confirm_spec = R"({"name": "t", "stages": [
  {"name": "a", "run": {"handler": "twice"}},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}, "confirm": "Ship it?"},
  {"name": "c", "after": ["b"], "run": {"builtin": "echo"}}]})";

void add_handlers(dairector::engine& e) {
  e.handlers().add("twice", [](const json& in) -> result<json> {
    return json{{"n", 2 * in["context"].value("n", 21)}};
  });
  e.handlers().add("refuse", [](const json&) -> result<json> { return make_error(errc::refused, "no, thanks"); });
}

std::unique_ptr<dairector::engine> open_engine(caf::actor_system& sys, const std::string& journal = {}) {
  engine_options opt;
  opt.journal = journal;
  auto e = dairector::engine::open(sys, opt);
  BOOST_REQUIRE_MESSAGE(e.ok(), (e.ok() ? std::string() : e.err().message));
  add_handlers(**e);
  return std::move(*e);
}

std::string status_of(const system_state& s, const char* stage) {
  return to_string(s.status(s.spec().find(stage)));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(engine)

BOOST_AUTO_TEST_CASE(start_wait_confirm_done) {
  real_system rs;
  auto e = open_engine(*rs.sys);
  auto p = e->start("p1", std::string_view(confirm_spec));
  BOOST_REQUIRE(p.ok());
  auto s = p->wait();
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(outcome(*s) == pipeline_outcome::waiting);
  BOOST_REQUIRE(s->pending());
  BOOST_CHECK_EQUAL(s->pending()->message, "Ship it?");
  BOOST_CHECK_EQUAL(s->payload(s->spec().find("a")).output->dump(), R"({"n":42})");
  auto after = p->confirm("fine", "user:test");
  BOOST_REQUIRE(after.ok());
  BOOST_CHECK(!after->pending());
  s = p->wait();
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(outcome(*s) == pipeline_outcome::done);
  // to_json is the object of `status --json`.
  const json j = to_json(*s);
  BOOST_CHECK_EQUAL(j, state_to_json(*s));
  BOOST_CHECK_EQUAL(j["pipeline"], "p1");
  BOOST_CHECK_EQUAL(j["stages"][2]["status"], "completed");
  BOOST_CHECK(e->stop().ok());
}

BOOST_AUTO_TEST_CASE(reject_reruns_the_stage) {
  real_system rs;
  auto e = open_engine(*rs.sys);
  auto p = e->start("p1", std::string_view(confirm_spec));
  BOOST_REQUIRE(p.ok());
  BOOST_REQUIRE(p->wait().ok());
  BOOST_REQUIRE(p->reject("again", "user:test").ok());
  auto s = p->wait();  // b is outdated by its rejection, runs again and asks again
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(outcome(*s) == pipeline_outcome::waiting);
  BOOST_CHECK_EQUAL(s->stage(s->spec().find("b")).attempt, 2u);
}

BOOST_AUTO_TEST_CASE(refusals_are_errors_with_their_code) {
  real_system rs;
  auto e = open_engine(*rs.sys);
  auto bad = e->start("bad", std::string_view(R"({"name": "x", "stages": [{"name": "a", "after": ["nope"], "run": {"builtin": "echo"}}]})"));
  BOOST_REQUIRE(!bad.ok());
  BOOST_CHECK(bad.err().code == errc::spec_invalid);
  BOOST_CHECK_MESSAGE(bad.err().message.find("nope") != std::string::npos, bad.err().message);

  auto p = e->start("p1", std::string_view(confirm_spec));
  BOOST_REQUIRE(p.ok());
  auto twice = e->start("p1", std::string_view(confirm_spec));
  BOOST_REQUIRE(!twice.ok());
  BOOST_CHECK(twice.err().code == errc::refused);
  BOOST_REQUIRE(p->wait().ok());
  BOOST_REQUIRE(p->confirm().ok());
  BOOST_REQUIRE(p->wait().ok());
  auto nothing = p->confirm();
  BOOST_REQUIRE(!nothing.ok());
  BOOST_CHECK(nothing.err().code == errc::refused);
  BOOST_CHECK_EQUAL(nothing.err().message, "no confirmation is pending");
  auto unknown_stage = p->cancel("zz");
  BOOST_REQUIRE(!unknown_stage.ok());
  BOOST_CHECK(unknown_stage.err().code == errc::not_found);
  auto missing = e->resume("nobody");
  BOOST_REQUIRE(!missing.ok());
  BOOST_CHECK(missing.err().code == errc::not_found);
}

BOOST_AUTO_TEST_CASE(a_failing_handler_fails_the_pipeline) {
  real_system rs;
  auto e = open_engine(*rs.sys);
  auto p = e->start("p1", std::string_view(R"({"name": "f", "stages": [{"name": "a", "run": {"handler": "refuse"}}]})"));
  BOOST_REQUIRE(p.ok());
  auto s = p->wait();
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(outcome(*s) == pipeline_outcome::failed);
  BOOST_CHECK_EQUAL(status_of(*s, "a"), "failed");
  BOOST_CHECK_MESSAGE(s->payload(0).error->find("no, thanks") != std::string::npos, *s->payload(0).error);
}

// The interleaving forced: stage a's handler has started and blocks; the
// cancel is applied while it runs (rule 6: the run is fenced); then the
// handler returns, and its result changes nothing.
BOOST_AUTO_TEST_CASE(cancel_while_a_handler_runs) {
  real_system rs;
  auto e = open_engine(*rs.sys);
  std::promise<void> started, release;
  auto released = release.get_future().share();
  e->handlers().add("hold", [&started, released](const json&) -> result<json> {
    started.set_value();
    released.wait();
    return json{{"late", true}};
  });
  auto p = e->start("p1", std::string_view(R"({"name": "h", "stages": [
    {"name": "a", "run": {"handler": "hold"}}, {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]})"));
  BOOST_REQUIRE(p.ok());
  started.get_future().wait();
  auto s = p->cancel("", "user:test");
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(outcome(*s) == pipeline_outcome::cancelled);
  BOOST_CHECK_EQUAL(status_of(*s, "a"), "cancelled");
  release.set_value();
  BOOST_CHECK(e->stop().ok());  // the late result was discarded or never delivered: nothing changed
}

// Every event after `watch` returned, in seq order, none twice, up to the
// last one: the confirmation and what follows it.
BOOST_AUTO_TEST_CASE(watch_sees_every_later_event_in_order) {
  real_system rs;
  auto e = open_engine(*rs.sys);
  auto p = e->start("p1", std::string_view(confirm_spec));
  BOOST_REQUIRE(p.ok());
  auto waiting = p->wait();
  BOOST_REQUIRE(waiting.ok());
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::uint64_t> seqs;
  std::vector<std::string> types;
  auto w = p->watch([&](const event& ev, const system_state& after) {
    std::lock_guard<std::mutex> lock(m);
    BOOST_CHECK_EQUAL(ev.seq, after.seq());
    seqs.push_back(ev.seq);
    types.push_back(to_string(ev.type));
    cv.notify_all();
  });
  BOOST_REQUIRE(w.ok());
  BOOST_REQUIRE(p->confirm().ok());
  auto done = p->wait();
  BOOST_REQUIRE(done.ok());
  std::unique_lock<std::mutex> lock(m);
  // A bound on a condition, not a sleep: the watcher is another actor.
  BOOST_REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return !seqs.empty() && seqs.back() == done->seq(); }));
  for (std::size_t k = 0; k < seqs.size(); ++k) BOOST_CHECK_EQUAL(seqs[k], waiting->seq() + 1 + k);
  BOOST_CHECK_EQUAL(types.front(), "confirmation_resolved");
  BOOST_CHECK_EQUAL(types.back(), "stage_completed");
}

// Engine 1 starts a pipeline that stops at its confirmation, and stops; a
// second engine on the same journal lists it, resumes it and finishes it.
// While engine 1 holds the journal, a second engine is refused (one writer).
BOOST_AUTO_TEST_CASE(durable_across_engines) {
  scratch_dir tmp;
  const std::string journal = (tmp.path / "j.db").string();
  real_system rs;
  {
    auto e1 = open_engine(*rs.sys, journal);
    auto p = e1->start("p1", std::string_view(confirm_spec));
    BOOST_REQUIRE(p.ok());
    auto s = p->wait();
    BOOST_REQUIRE(s.ok());
    BOOST_CHECK(outcome(*s) == pipeline_outcome::waiting);
    engine_options opt;
    opt.journal = journal;
    auto second = dairector::engine::open(*rs.sys, opt);
    BOOST_REQUIRE(!second.ok());
    BOOST_CHECK(second.err().code == errc::owned);
    BOOST_CHECK(e1->stop().ok());
    auto after_stop = p->state();
    BOOST_CHECK(!after_stop.ok());
  }
  auto e2 = open_engine(*rs.sys, journal);
  auto known = e2->pipelines();
  BOOST_REQUIRE(known.ok());
  BOOST_REQUIRE_EQUAL(known->size(), 1u);
  BOOST_CHECK_EQUAL(known->front(), "p1");
  auto p = e2->resume("p1");
  BOOST_REQUIRE(p.ok());
  auto s = p->wait();
  BOOST_REQUIRE(s.ok());
  BOOST_REQUIRE(s->pending());  // the confirmation survived the restart
  BOOST_REQUIRE(p->confirm("later", "user:test").ok());
  s = p->wait();
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK(outcome(*s) == pipeline_outcome::done);
  BOOST_CHECK_EQUAL(s->stage(0).attempt, 1u);  // nothing ran twice
}

BOOST_AUTO_TEST_SUITE_END()
