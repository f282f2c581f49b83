// The one place a user's request becomes an event (request.hpp), and the one
// table that says what each error code means to a client (result.hpp).
#include "core/fixtures.hpp"

#include "dairector/request.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

const char* spec_text = R"({"name": "r", "stages": [
  {"name": "a", "run": {"builtin": "echo"}, "confirm": "Fine?"},
  {"name": "b", "after": ["a"], "run": {"builtin": "echo"}}]})";

request make(request::kind what, std::string stage = {}) {
  request r;
  r.what = what;
  r.by = "user:ana";
  r.stage = std::move(stage);
  return r;
}

error refusal_of(const result<event>& e) {
  BOOST_REQUIRE_MESSAGE(!e.ok(), "should have been refused");
  return e.err();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(request_path)

BOOST_AUTO_TEST_CASE(each_request_becomes_its_event_checked_against_the_reducer) {
  history h(must_parse(spec_text));
  auto start = event_for(h.state(), make(request::kind::start, "a"), 5);
  BOOST_REQUIRE(start.ok());
  BOOST_CHECK(start->type == event_type::stage_started);
  BOOST_CHECK_EQUAL(start->run, start->seq);
  BOOST_CHECK_EQUAL(start->at_ms, 5);
  BOOST_CHECK_EQUAL(start->by, "user:ana");
  h.push(*start);
  h.complete("a");
  // A context change without a value keeps the stage's own (here none: {}).
  auto context = event_for(h.state(), make(request::kind::context, "a"), 6);
  BOOST_REQUIRE(context.ok());
  BOOST_CHECK_EQUAL(context->payload->dump(), "{}");
  h.system_step();  // the confirmation
  auto blocked = refusal_of(event_for(h.state(), make(request::kind::start, "b"), 7));
  BOOST_CHECK(blocked.code == errc::blocked);
  request confirm = make(request::kind::confirm);
  confirm.note = "yes";
  auto resolved = event_for(h.state(), confirm, 8);
  BOOST_REQUIRE(resolved.ok());
  BOOST_CHECK(resolved->approved);
  BOOST_CHECK_EQUAL(resolved->text, "yes");
  BOOST_CHECK_EQUAL(resolved->stage, h.at("a"));
}

BOOST_AUTO_TEST_CASE(refusals_carry_the_code_a_client_acts_on) {
  history h(must_parse(spec_text));
  BOOST_CHECK(refusal_of(event_for(h.state(), make(request::kind::retry, "zz"), 1)).code == errc::not_found);
  BOOST_CHECK(refusal_of(event_for(h.state(), make(request::kind::confirm), 1)).code == errc::refused);
  const error never = refusal_of(event_for(h.state(), make(request::kind::retry, "a"), 1));
  BOOST_CHECK(never.code == errc::refused);
  BOOST_CHECK_MESSAGE(never.message.find("only a failed or cancelled stage") != std::string::npos, never.message);
  request back = make(request::kind::rollback);
  back.to = 9;
  const error past = refusal_of(event_for(h.state(), back, 1, h.events()));
  BOOST_CHECK(past.code == errc::not_found);  // 404, naming the end
  BOOST_CHECK_MESSAGE(past.message.find("the history ends at 1") != std::string::npos, past.message);
  back.to = 0;
  BOOST_CHECK(refusal_of(event_for(h.state(), back, 1, h.events())).code == errc::refused);
  request bad_context = make(request::kind::context, "a");
  json deep = json::array();
  for (int k = 0; k < 300; ++k) deep = json::array({deep});
  bad_context.context = std::make_shared<const json>(deep);
  BOOST_CHECK(refusal_of(event_for(h.state(), bad_context, 1)).code == errc::decode_failed);
}

BOOST_AUTO_TEST_CASE(a_failed_or_cancelled_stage_is_retried_with_its_downstream) {
  history h(must_parse(R"({"name": "r", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "c", "run": {"builtin": "echo"}}]})"));
  h.start("c");
  h.start("a");
  h.fail("a");
  h.cancel_all();  // b (never ran) and c (running) cancelled
  auto retry = event_for(h.state(), make(request::kind::retry, "a"), 1);
  BOOST_REQUIRE(retry.ok());
  h.push(*retry);
  BOOST_CHECK(h.status("a") == stage_status::ready);
  BOOST_CHECK(h.status("b") == stage_status::pending);    // downstream: startable again once a is done
  BOOST_CHECK(h.status("c") == stage_status::cancelled);  // another branch keeps its status
  h.start("a");
  const error running = refusal_of(event_for(h.state(), make(request::kind::retry, "a"), 1));
  BOOST_CHECK_MESSAGE(running.message.find("is running") != std::string::npos, running.message);
  h.complete("a");
  const error completed = refusal_of(event_for(h.state(), make(request::kind::retry, "a"), 1));
  BOOST_CHECK_MESSAGE(completed.message.find("is completed") != std::string::npos, completed.message);
}

// One row per code: the HTTP status and the exit code (docs/http.md#answers,
// docs/cli.md#exit-codes). A code added without a row does not compile.
BOOST_AUTO_TEST_CASE(every_error_code_has_its_status_and_exit_code) {
  struct row {
    errc code;
    int http, exit;
  };
  const row rows[] = {{errc::spec_invalid, 400, 2}, {errc::refused, 409, 2}, {errc::blocked, 409, 2},
                      {errc::decode_failed, 400, 2}, {errc::not_found, 404, 2}, {errc::journal, 503, 5},
                      {errc::fenced, 503, 5}, {errc::unavailable, 503, 5}, {errc::owned, 503, 5},
                      {errc::behind, 503, 5}};
  BOOST_REQUIRE_EQUAL(std::size(rows), std::size_t(errc_count));
  for (const row& r : rows) {
    BOOST_TEST_CONTEXT(to_string(r.code)) {
      BOOST_CHECK_EQUAL(http_status(r.code), r.http);
      BOOST_CHECK_EQUAL(exit_code_for(r.code), r.exit);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
