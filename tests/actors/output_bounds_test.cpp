// What a worker admits (workers.hpp, run_job): every output within the
// bounds of a value whatever produced it, here an in-process C++ handler,
// which the shell tests cannot reach; and the JSON a worker process gets from
// a server (a job's input and run spec) bounded, with no key twice.
#include <boost/test/unit_test.hpp>

#include <string>

#include "dairector/actors/workers.hpp"
#include "dairector/json_bounds.hpp"

using namespace dairector;

namespace {

json nested_value(std::size_t depth) {
  json out = json::array();
  for (std::size_t k = 1; k < depth; ++k) out = json::array({std::move(out)});
  return out;
}

// One run of the handler `name` in process, as a local worker does it.
actors::stage_result run_handler(const std::string& name, actors::stage_handler fn) {
  actors::handler_registry handlers;
  handlers.add(name, std::move(fn));
  run_spec r;
  r.what = run_spec::kind::handler;
  r.handler = name;
  actors::job j;
  j.pipeline = "p";
  j.run = 2;
  j.input_value = std::make_shared<const json>(json{{"inputs", json::object()}, {"context", json::object()}});
  return actors::run_job(j, r, &handlers, "worker:local", nullptr);
}

// One job as it reaches a worker process: text only.
actors::stage_result run_remote(const std::string& run_spec_text, const std::string& input_text) {
  actors::job j;
  j.pipeline = "p";
  j.run = 2;
  j.run_spec = run_spec_text;
  j.input = input_text;
  auto spec = actors::job_run_spec(j);
  if (!spec) {
    actors::stage_result r;
    r.error = spec.err().message;
    return r;
  }
  return actors::run_job(j, **spec, nullptr, "worker:w1", nullptr);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(output_bounds)

BOOST_AUTO_TEST_CASE(a_handler_output_past_the_bounds_fails_the_run_naming_the_bound) {
  auto deep = run_handler("grow", [](const json&) -> result<json> { return nested_value(70'000); });
  BOOST_CHECK(!deep.ok);
  BOOST_CHECK(!deep.output_value);
  BOOST_CHECK_EQUAL(deep.error, "the output of handler 'grow' nests deeper than 248 arrays and objects");

  auto big = run_handler("big", [](const json&) -> result<json> { return json(std::string(17u << 20, 'x')); });
  BOOST_CHECK(!big.ok);
  BOOST_CHECK_EQUAL(big.error, "the output of handler 'big' is larger than 16 MiB as JSON");

  auto bytes = run_handler("bytes", [](const json&) -> result<json> { return json{{"k", std::string("\xff")}}; });
  BOOST_CHECK(!bytes.ok);
  BOOST_CHECK_EQUAL(bytes.error, "the output of handler 'bytes' holds a string that is not valid UTF-8");

  auto deepest = run_handler("fits", [](const json&) -> result<json> { return nested_value(json_value_depth_max); });
  BOOST_CHECK_MESSAGE(deepest.ok, deepest.error);
}

BOOST_AUTO_TEST_CASE(a_job_from_a_server_is_bounded_and_refuses_a_key_twice) {
  const std::string echo = R"({"builtin": "echo"})";
  auto deep_input = run_remote(echo, std::string(70'000, '[') + std::string(70'000, ']'));
  BOOST_CHECK(!deep_input.ok);
  BOOST_CHECK_EQUAL(deep_input.error, "the job's input nests deeper than 256 arrays and objects");

  auto twice = run_remote(R"({"builtin": "echo", "builtin": "fail"})", "{}");
  BOOST_CHECK(!twice.ok);
  BOOST_CHECK_EQUAL(twice.error, "the job's run spec has the key \"builtin\" twice in the top-level object");

  // echo of an input whose upstream output is the deepest admitted: two
  // levels deeper, so it is not admitted in turn.
  const json input = {{"inputs", {{"up", nested_value(json_value_depth_max)}}}, {"context", json::object()}};
  auto echoed = run_remote(echo, input.dump());
  BOOST_CHECK(!echoed.ok);
  BOOST_CHECK_EQUAL(echoed.error, "the output of builtin echo nests deeper than 248 arrays and objects");

  auto fine = run_remote(echo, R"({"inputs": {"up": {"v": [1]}}, "context": {}})");
  BOOST_CHECK_MESSAGE(fine.ok, fine.error);
}

BOOST_AUTO_TEST_SUITE_END()
