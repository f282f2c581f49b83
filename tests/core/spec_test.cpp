// The pipeline spec (docs/spec.md): every refusal is a value whose message
// names the stage and the problem; stages come out in topological order with
// their direct and transitive neighbours; the canonical JSON parses back to
// itself.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// A spec document whose stages are `stages` (JSON array text).
json doc_with(const std::string& stages) {
  return json::parse(R"({"name": "p", "stages": )" + stages + "}");
}

/// The message of a refused document; it must be refused as spec_invalid.
std::string refusal(const json& doc) {
  auto r = parse_spec(doc);
  BOOST_REQUIRE_MESSAGE(!r.ok(), "this spec should be refused: " << doc.dump());
  BOOST_CHECK(r.err().code == errc::spec_invalid);
  BOOST_CHECK(!r.err().message.empty());
  return r.err().message;
}

std::string refusal(const std::string& stages) { return refusal(doc_with(stages)); }

/// A spec with one stage, named as given (any bytes), that echoes.
json one_stage(const std::string& pipeline_name, const std::string& stage_name) {
  json stage = json::object();
  stage["name"] = stage_name;
  stage["run"] = json{{"builtin", "echo"}};
  return json{{"name", pipeline_name}, {"stages", json::array({stage})}};
}

/// A spec made of stage `a` with `run`, and nothing else.
json with_run(const json& run) {
  return json{{"name", "p"}, {"stages", json::array({json{{"name", "a"}, {"run", run}}})}};
}

names order_of(const pipeline_spec& spec) {
  names out;
  for (const auto& s : spec.stages()) out.push_back(s.name);
  return out;
}

names after_of(const pipeline_spec& spec, std::string_view name) {
  return names_of(spec, spec[spec.find(name)].after);
}
names before_of(const pipeline_spec& spec, std::string_view name) {
  return names_of(spec, spec[spec.find(name)].before);
}
names upstream_of(const pipeline_spec& spec, std::string_view name) {
  return names_of(spec, spec[spec.find(name)].upstream);
}
names downstream_of(const pipeline_spec& spec, std::string_view name) {
  return names_of(spec, spec[spec.find(name)].downstream);
}

/// The lists and the bitsets must say the same thing, and is_upstream too.
void check_sets_agree(const pipeline_spec& spec) {
  for (stage_index i = 0; i < spec.size(); ++i) {
    const stage_spec& s = spec[i];
    for (stage_index j = 0; j < spec.size(); ++j) {
      const bool up = std::find(s.upstream.begin(), s.upstream.end(), j) != s.upstream.end();
      const bool down = std::find(s.downstream.begin(), s.downstream.end(), j) != s.downstream.end();
      BOOST_CHECK_EQUAL(s.upstream_set.contains(j), up);
      BOOST_CHECK_EQUAL(s.downstream_set.contains(j), down);
      BOOST_CHECK_EQUAL(spec.is_upstream(j, i), up);
      BOOST_CHECK_EQUAL(spec.is_upstream(i, j), down);
      // Topological order: everything upstream comes first.
      if (up) BOOST_CHECK_LT(j, i);
    }
    BOOST_CHECK(!s.upstream_set.contains(i));
    BOOST_CHECK(!s.downstream_set.contains(i));
    BOOST_CHECK_EQUAL(spec.find(s.name), i);
  }
}

void check_round_trip(const pipeline_spec& spec) {
  const json canonical = spec.to_json();
  auto again = parse_spec(canonical);
  BOOST_REQUIRE_MESSAGE(again.ok(), describe(again));
  BOOST_CHECK_EQUAL((*again)->to_json().dump(), canonical.dump());
  BOOST_CHECK(order_of(**again) == order_of(spec));
  for (stage_index i = 0; i < spec.size(); ++i) {
    BOOST_CHECK((*again)->stages()[i].run == spec[i].run);
    BOOST_CHECK((*again)->stages()[i].after == spec[i].after);
    BOOST_CHECK((*again)->stages()[i].confirm == spec[i].confirm);
    BOOST_CHECK((*again)->stages()[i].on_failure == spec[i].on_failure);
  }
}

const char* const echo = R"("run": {"builtin": "echo"})";

}  // namespace

BOOST_AUTO_TEST_SUITE(spec)

// ---------------------------------------------------------------- refusals

BOOST_AUTO_TEST_CASE(text_that_is_not_json_is_refused_naming_the_source) {
  auto r = parse_spec_text(R"({"name": "p", "stages": [)", "broken.json");
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.err().code == errc::spec_invalid);
  DAIRECTOR_CHECK_CONTAINS(r.err().message, "broken.json is not valid JSON");
  auto empty = parse_spec_text("", "empty.json");
  BOOST_REQUIRE(!empty.ok());
  DAIRECTOR_CHECK_CONTAINS(empty.err().message, "empty.json is not valid JSON");
  // A number too large for a double is not JSON this program can read either.
  auto huge = parse_spec_text(R"({"name": "p", "stages": [{"name": "a", "run": {"builtin": "sleep", "ms": 1e400}}]})",
                              "huge.json");
  BOOST_REQUIRE(!huge.ok());
  DAIRECTOR_CHECK_CONTAINS(huge.err().message, "huge.json is not valid JSON");
}

BOOST_AUTO_TEST_CASE(a_key_given_twice_is_refused_naming_it_not_resolved) {
  // At the top level, in a stage, in its run and in its policy: never one
  // of the two values silently chosen.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"name": "x", "name": "y", "stages": [{"name": "a", "run": {"builtin": "echo"}}]})",
       "twice.json has the key \"name\" twice in the top-level object"},
      {R"({"name": "x", "stages": [{"name": "a", "name": "b", "run": {"builtin": "echo"}}]})",
       "twice.json has the key \"name\" twice in stages[0]"},
      {R"({"name": "x", "stages": [{"name": "a", "run": {"command": ["true"], "command": ["rm", "-rf", "/"]}}]})",
       "twice.json has the key \"command\" twice in stages[0].run"},
      {R"({"name": "x", "stages": [{"name": "a", "run": {"builtin": "echo"}},
           {"name": "b", "after": ["a"], "run": {"builtin": "echo"},
            "on_failure": {"rerun": "a", "max_attempts": 1, "max_attempts": 900}}]})",
       "twice.json has the key \"max_attempts\" twice in stages[1].on_failure"},
      {R"({"name": "x", "stages": [{"name": "a", "run": {"command": ["env"], "env": {"A": "1", "A": "2"}}}]})",
       "twice.json has the key \"A\" twice in stages[0].run.env"},
  };
  for (const auto& [text, message] : cases) {
    auto r = parse_spec_text(text, "twice.json");
    BOOST_REQUIRE(!r.ok());
    BOOST_CHECK(r.err().code == errc::spec_invalid);
    BOOST_CHECK_EQUAL(r.err().message, message);
  }
}

BOOST_AUTO_TEST_CASE(a_spec_nested_too_deep_is_refused_naming_the_bound) {
  const std::string deep = "{\"name\": \"x\", \"stages\": " + std::string(70'000, '[') + std::string(70'000, ']') + "}";
  auto r = parse_spec_text(deep, "deep.json");
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.err().code == errc::spec_invalid);
  BOOST_CHECK_EQUAL(r.err().message, "deep.json nests deeper than 256 arrays and objects");
}

BOOST_AUTO_TEST_CASE(a_confirmation_message_with_a_control_character_is_refused) {
  for (const char* message : {R"(ship?\n    9  forged line)", R"(\u001b[2Jship?)", R"(nul\u0000)", R"(csi\u009b)"}) {
    const std::string text = std::string(R"({"name": "x", "stages": [{"name": "a", "run": {"builtin": "echo"},
                                                                      "confirm": ")") + message + "\"}]}";
    auto r = parse_spec_text(text, "confirm.json");
    BOOST_REQUIRE_MESSAGE(!r.ok(), message);
    DAIRECTOR_CHECK_CONTAINS(r.err().message, "confirm.json: stage 'a': \"confirm\" holds a control character");
    // A spec written to a journal before this rule still reads back.
    auto doc = json::parse(text);
    BOOST_CHECK(parse_spec(doc, spec_source::journal).ok());
  }
}

BOOST_AUTO_TEST_CASE(a_refusal_from_text_names_the_source_instead_of_spec) {
  auto r = parse_spec_text(R"({"name": "p", "stages": []})", "mine.json");
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK_EQUAL(r.err().message, "mine.json: no stages (\"stages\" is empty)");
}

BOOST_AUTO_TEST_CASE(a_missing_file_is_refused_naming_the_path) {
  const std::string path = "/nonexistent-dairector-folder/spec.json";
  auto r = load_spec(path);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.err().code == errc::spec_invalid);
  DAIRECTOR_CHECK_CONTAINS(r.err().message, path);
  DAIRECTOR_CHECK_CONTAINS(r.err().message, "cannot open the spec file");
}

BOOST_AUTO_TEST_CASE(a_bad_file_is_refused_naming_the_path_and_the_stage) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("dairector-spec-test-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << R"({"name": "p", "stages": [{"name": "a", "after": ["ghost"], "run": {"builtin": "echo"}}]})";
  }
  auto r = load_spec(path.string());
  std::filesystem::remove(path);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK_EQUAL(r.err().message, path.string() + ": stage 'a': \"after\" names unknown stage 'ghost'");
}

BOOST_AUTO_TEST_CASE(a_top_level_that_is_not_an_object_is_refused) {
  DAIRECTOR_CHECK_CONTAINS(refusal(json::array()), "top level must be a JSON object");
  DAIRECTOR_CHECK_CONTAINS(refusal(json("dairector")), "top level must be a JSON object");
  DAIRECTOR_CHECK_CONTAINS(refusal(json::parse(R"({"stages": []})")), "\"name\" is missing");
}

BOOST_AUTO_TEST_CASE(an_unknown_stage_in_after_is_refused) {
  const std::string msg = refusal(std::string("[{\"name\": \"a\", ") + echo +
                                  "}, {\"name\": \"b\", \"after\": [\"a\", \"zz\"], " + echo + "}]");
  BOOST_CHECK_EQUAL(msg, "stage 'b': \"after\" names unknown stage 'zz'");
}

BOOST_AUTO_TEST_CASE(a_duplicate_stage_is_refused) {
  const std::string msg = refusal(std::string("[{\"name\": \"a\", ") + echo + "}, {\"name\": \"b\", " + echo +
                                  "}, {\"name\": \"a\", \"after\": [\"b\"], " + echo + "}]");
  BOOST_CHECK_EQUAL(msg, "stage 'a': duplicate stage name");
}

BOOST_AUTO_TEST_CASE(a_cycle_is_refused_naming_its_stages) {
  const std::string msg = refusal(std::string("[{\"name\": \"x\", ") + echo + "}," +
                                  "{\"name\": \"a\", \"after\": [\"c\", \"x\"], " + echo + "}," +
                                  "{\"name\": \"b\", \"after\": [\"a\"], " + echo + "}," +
                                  "{\"name\": \"c\", \"after\": [\"b\"], " + echo + "}]");
  DAIRECTOR_CHECK_CONTAINS(msg, "cycle");
  DAIRECTOR_CHECK_CONTAINS(msg, "'a'");
  DAIRECTOR_CHECK_CONTAINS(msg, "'b'");
  DAIRECTOR_CHECK_CONTAINS(msg, "'c'");
  BOOST_CHECK_MESSAGE(!contains(msg, "'x'"), msg << " names 'x', which is not in the cycle");

  const std::string two = refusal(std::string("[{\"name\": \"a\", \"after\": [\"b\"], ") + echo + "}," +
                                  "{\"name\": \"b\", \"after\": [\"a\"], " + echo + "}]");
  DAIRECTOR_CHECK_CONTAINS(two, "'a', 'b' form a cycle");

  const std::string self = refusal(std::string("[{\"name\": \"a\", \"after\": [\"a\"], ") + echo + "}]");
  BOOST_CHECK_EQUAL(self, "stage 'a': lists itself in \"after\"");
}

BOOST_AUTO_TEST_CASE(no_stages_is_refused) {
  DAIRECTOR_CHECK_CONTAINS(refusal(std::string("[]")), "no stages");
  DAIRECTOR_CHECK_CONTAINS(refusal(json::parse(R"({"name": "p"})")), "\"stages\" is missing or not an array");
  DAIRECTOR_CHECK_CONTAINS(refusal(json::parse(R"({"name": "p", "stages": {}})")),
                           "\"stages\" is missing or not an array");
}

BOOST_AUTO_TEST_CASE(more_stages_than_the_limit_are_refused) {
  json stages = json::array();
  for (std::size_t k = 0; k <= stage_count_max; ++k)
    stages.push_back({{"name", "s" + std::to_string(k)}, {"run", {{"builtin", "echo"}}}});
  DAIRECTOR_CHECK_CONTAINS(refusal(json{{"name", "p"}, {"stages", stages}}), "more than the limit of 1000");
  stages.erase(stages.size() - 1);
  auto at_limit = parse_spec(json{{"name", "p"}, {"stages", stages}});
  BOOST_REQUIRE_MESSAGE(at_limit.ok(), describe(at_limit));
  BOOST_CHECK_EQUAL((*at_limit)->size(), stage_count_max);
}

BOOST_AUTO_TEST_CASE(bad_names_are_refused) {
  const std::vector<std::string> bad = {"", "A", "Idea", "1a", "_a", "-a", "a b", "a.b", "a/b", "a\xc3\xa9",
                                        "a" + std::string(stage_name_length_max, 'x')};
  for (const auto& name : bad) {
    BOOST_TEST_CONTEXT("stage name '" << name << "'") {
      BOOST_CHECK(!is_valid_name(name));
      const std::string msg = refusal(one_stage("p", name));
      BOOST_CHECK_EQUAL(msg, "stage #1: bad name '" + name + "' (must match [a-z][a-z0-9_-]{0,63})");
      const std::string pmsg = refusal(one_stage(name, "a"));
      DAIRECTOR_CHECK_CONTAINS(pmsg, "pipeline name '" + name + "' is not a valid name");
    }
  }
  for (const std::string& name : std::vector<std::string>{"a", "z9", "a-b_c", std::string(stage_name_length_max, 'q')}) {
    BOOST_TEST_CONTEXT("stage name '" << name << "'") {
      BOOST_CHECK(is_valid_name(name));
      auto r = parse_spec(one_stage(name, name));
      BOOST_CHECK_MESSAGE(r.ok(), describe(r));
    }
  }
  // The second stage has a name that is not a string: it is named by position.
  DAIRECTOR_CHECK_CONTAINS(refusal(std::string("[{\"name\": \"a\", ") + echo + "}, {\"name\": 7, " + echo + "}]"),
                           "stage #2: \"name\" is missing or not a string");
  DAIRECTOR_CHECK_CONTAINS(refusal(std::string("[{\"name\": \"a\", ") + echo + "}, 5]"), "stage #2: must be an object");
}

BOOST_AUTO_TEST_CASE(bad_runs_are_refused) {
  struct row {
    const char* run;
    const char* problem;
  };
  const std::vector<row> rows = {
      {R"({"builtin": "frobnicate"})", "stage 'a': unknown builtin 'frobnicate' (known: echo, sleep, fail)"},
      {R"({"builtin": 7})", "stage 'a': unknown builtin 7"},
      {R"({"builtin": "sleep"})", "stage 'a': builtin 'sleep' needs \"ms\""},
      {R"({"builtin": "sleep", "ms": -1})", "stage 'a': builtin 'sleep' needs \"ms\""},
      {R"({"builtin": "sleep", "ms": "200"})", "stage 'a': builtin 'sleep' needs \"ms\""},
      {R"({"builtin": "sleep", "ms": 2.5})", "stage 'a': builtin 'sleep' needs \"ms\""},
      {R"({"builtin": "sleep", "ms": 86400001})", "stage 'a': builtin 'sleep' needs \"ms\""},
      {R"({"builtin": "fail"})", "stage 'a': builtin 'fail' needs \"times\""},
      {R"({"builtin": "fail", "times": -2})", "stage 'a': builtin 'fail' needs \"times\""},
      {R"({"builtin": "echo", "ms": 5})", "stage 'a': run: unknown field 'ms'"},
      {R"({"command": []})", "stage 'a': run.command must be a non-empty array of strings"},
      {R"({"command": "sh analyze.sh"})", "stage 'a': run.command must be a non-empty array of strings"},
      {R"({"command": ["sh", 1]})", "stage 'a': run.command must be a non-empty array of strings"},
      {R"({"command": [""]})", "stage 'a': run.command[0] (the program) is empty"},
      {R"({"command": ["sh"], "timeout_s": 0})", "stage 'a': run.timeout_s must be an integer from 1 to 604800"},
      {R"({"command": ["sh"], "timeout_s": 604801})", "stage 'a': run.timeout_s must be an integer from 1 to"},
      {R"({"command": ["sh"], "timeout_s": "60"})", "stage 'a': run.timeout_s must be an integer"},
      {R"({"command": ["sh"], "env": []})", "stage 'a': run.env must be an object of strings"},
      {R"({"command": ["sh"], "env": {"A=B": "x"}})", "stage 'a': run.env has a bad variable name 'A=B'"},
      {R"({"command": ["sh"], "env": {"": "x"}})", "stage 'a': run.env has a bad variable name ''"},
      {R"({"command": ["sh"], "env": {"HOME": 1}})", "stage 'a': run.env.HOME must be a string"},
      {R"({"command": ["sh"], "timeout": 5})", "stage 'a': run: unknown field 'timeout'"},
      {R"({"command": ["sh"], "builtin": "echo"})", "stage 'a': 'run' must have exactly one of"},
      {R"({"builtin": "echo", "handler": "h"})", "stage 'a': 'run' must have exactly one of"},
      {R"({})", "stage 'a': 'run' must have exactly one of"},
      {R"("echo")", "stage 'a': 'run' must be an object"},
      {R"({"handler": "Not A Name"})", "stage 'a': run.handler must be a name"},
      {R"({"handler": "h", "ms": 1})", "stage 'a': run: unknown field 'ms'"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("run " << r.run) { DAIRECTOR_CHECK_CONTAINS(refusal(with_run(json::parse(r.run))), r.problem); }
  }
  DAIRECTOR_CHECK_CONTAINS(refusal(std::string(R"([{"name": "a"}])")), "stage 'a': \"run\" is missing");
}

BOOST_AUTO_TEST_CASE(good_runs_are_kept_with_their_defaults) {
  auto s = must_parse(R"({"name": "p", "stages": [
    {"name": "c", "run": {"command": ["sh", "-c", "true"], "env": {"K": "v"}}},
    {"name": "t", "run": {"command": ["prog"], "timeout_s": 604800}},
    {"name": "s", "run": {"builtin": "sleep", "ms": 0}},
    {"name": "f", "run": {"builtin": "fail", "times": 2}},
    {"name": "h", "run": {"handler": "my-handler"}}]})");
  const run_spec& c = (*s)[s->find("c")].run;
  BOOST_CHECK(c.what == run_spec::kind::command);
  BOOST_CHECK((c.argv == std::vector<std::string>{"sh", "-c", "true"}));
  BOOST_CHECK_EQUAL(c.timeout_s, run_timeout_s_default);
  BOOST_CHECK_EQUAL(c.env.at("K"), "v");
  BOOST_CHECK_EQUAL((*s)[s->find("t")].run.timeout_s, run_timeout_s_max);
  BOOST_CHECK((*s)[s->find("s")].run.what == run_spec::kind::sleep);
  BOOST_CHECK_EQUAL((*s)[s->find("s")].run.ms, 0u);
  BOOST_CHECK((*s)[s->find("f")].run.what == run_spec::kind::fail);
  BOOST_CHECK_EQUAL((*s)[s->find("f")].run.times, 2u);
  BOOST_CHECK((*s)[s->find("h")].run.what == run_spec::kind::handler);
  BOOST_CHECK_EQUAL((*s)[s->find("h")].run.handler, "my-handler");
}

BOOST_AUTO_TEST_CASE(bad_on_failure_policies_are_refused) {
  // x is beside the line a → b → c; the policy sits on c unless said otherwise.
  auto spec_with = [](const std::string& policy, const std::string& on = "c") {
    auto stage = [&](const std::string& name, const std::string& after) {
      std::string s = "{\"name\": \"" + name + "\", \"after\": " + after + ", " + echo;
      if (name == on) s += ", \"on_failure\": " + policy;
      return s + "}";
    };
    return doc_with("[" + stage("x", "[]") + "," + stage("a", "[]") + "," + stage("b", "[\"a\"]") + "," +
                    stage("c", "[\"b\"]") + "]");
  };
  struct row {
    std::string policy;
    std::string on;
    std::string problem;
  };
  const std::string attempts = "on_failure.max_attempts must be an integer from 1 to 1000";
  const std::vector<row> rows = {
      {R"({"rerun": "zz", "max_attempts": 3})", "c", "stage 'c': on_failure.rerun names unknown stage 'zz'"},
      {R"({"rerun": "x", "max_attempts": 3})", "c", "stage 'c': on_failure.rerun 'x' is not upstream of 'c'"},
      {R"({"rerun": "c", "max_attempts": 3})", "c", "stage 'c': on_failure.rerun 'c' is not upstream of 'c'"},
      {R"({"rerun": "c", "max_attempts": 3})", "b", "stage 'b': on_failure.rerun 'c' is not upstream of 'b'"},
      {R"({"rerun": "a", "max_attempts": 0})", "c", "stage 'c': " + attempts},
      {R"({"rerun": "a", "max_attempts": 1001})", "c", "stage 'c': " + attempts},
      {R"({"rerun": "a", "max_attempts": -1})", "c", "stage 'c': " + attempts},
      {R"({"rerun": "a", "max_attempts": 2.5})", "c", "stage 'c': " + attempts},
      {R"({"rerun": "a", "max_attempts": "3"})", "c", "stage 'c': " + attempts},
      {R"({"rerun": "a"})", "c", "stage 'c': " + attempts},
      {R"({"max_attempts": 3})", "c", "stage 'c': on_failure.rerun must name an upstream stage"},
      {R"({"rerun": 1, "max_attempts": 3})", "c", "stage 'c': on_failure.rerun must name an upstream stage"},
      {R"("execute")", "c", "stage 'c': \"on_failure\" must be an object"},
      {R"({"rerun": "a", "max_attempts": 3, "retries": 2})", "c", "stage 'c': on_failure: unknown field 'retries'"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT("on_failure " << r.policy << " on " << r.on) {
      DAIRECTOR_CHECK_CONTAINS(refusal(spec_with(r.policy, r.on)), r.problem);
    }
  }
  // A transitive upstream and both bounds of max_attempts are fine.
  for (const std::string policy : {R"({"rerun": "a", "max_attempts": 1})", R"({"rerun": "b", "max_attempts": 1000})"}) {
    auto ok = parse_spec(spec_with(policy));
    BOOST_REQUIRE_MESSAGE(ok.ok(), describe(ok));
    const auto& p = (*ok)->stages()[(*ok)->find("c")].on_failure;
    BOOST_REQUIRE(p.has_value());
    BOOST_CHECK_EQUAL((*ok)->stages()[p->rerun].name, json::parse(policy)["rerun"].get<std::string>());
    BOOST_CHECK_EQUAL(p->max_attempts, json::parse(policy)["max_attempts"].get<std::uint32_t>());
  }
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_refused) {
  DAIRECTOR_CHECK_CONTAINS(refusal(json::parse(R"({"name": "p", "version": 2, "stages": []})")),
                           "spec: unknown field 'version' (known: name, stages)");
  const std::string msg = refusal(std::string(R"([{"name": "a", "aftr": [], )") + echo + "}]");
  BOOST_CHECK_EQUAL(msg, "stage 'a': unknown field 'aftr' (known: name, after, run, confirm, on_failure)");
}

BOOST_AUTO_TEST_CASE(bad_confirm_is_refused) {
  for (const std::string value : {R"("")", "5", "null", "true", R"(["yes?"])"}) {
    BOOST_TEST_CONTEXT("confirm " << value) {
      const std::string msg = refusal("[{\"name\": \"a\", \"confirm\": " + value + ", " + echo + "}]");
      BOOST_CHECK_EQUAL(msg, "stage 'a': \"confirm\" must be a non-empty message");
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_after_is_refused) {
  const std::string first = std::string("{\"name\": \"a\", ") + echo + "}";
  DAIRECTOR_CHECK_CONTAINS(refusal("[" + first + ", {\"name\": \"b\", \"after\": \"a\", " + echo + "}]"),
                           "stage 'b': \"after\" must be an array of stage names");
  DAIRECTOR_CHECK_CONTAINS(refusal("[" + first + ", {\"name\": \"b\", \"after\": [1], " + echo + "}]"),
                           "stage 'b': \"after\" must be an array of stage names");
  DAIRECTOR_CHECK_CONTAINS(refusal("[" + first + ", {\"name\": \"b\", \"after\": [\"a\", \"a\"], " + echo + "}]"),
                           "stage 'b': lists 'a' twice in \"after\"");
}

// ---------------------------------------------------------------- order and neighbours

BOOST_AUTO_TEST_CASE(a_line_is_ordered_whatever_the_file_order) {
  auto s = must_parse(R"({"name": "line", "stages": [
    {"name": "d", "after": ["c"], "run": {"builtin": "echo"}},
    {"name": "c", "after": ["b"], "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "a", "run": {"builtin": "echo"}}]})");
  BOOST_TEST(order_of(*s) == (names{"a", "b", "c", "d"}), boost::test_tools::per_element());
  const auto l_ptr = line_spec();
  const auto& l = *l_ptr;
  BOOST_TEST(order_of(l) == (names{"a", "b", "c", "d"}), boost::test_tools::per_element());
  BOOST_TEST(after_of(l, "a").empty());
  BOOST_TEST(after_of(l, "c") == names{"b"}, boost::test_tools::per_element());
  BOOST_TEST(before_of(l, "c") == names{"d"}, boost::test_tools::per_element());
  BOOST_TEST(before_of(l, "d").empty());
  BOOST_TEST(upstream_of(l, "c") == (names{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(downstream_of(l, "a") == (names{"b", "c", "d"}), boost::test_tools::per_element());
  BOOST_TEST(downstream_of(l, "b") == (names{"c", "d"}), boost::test_tools::per_element());
  BOOST_TEST(upstream_of(l, "a").empty());
  BOOST_TEST(downstream_of(l, "d").empty());
  check_sets_agree(l);
  check_sets_agree(*s);
}

BOOST_AUTO_TEST_CASE(ties_are_broken_by_file_order) {
  // Written sink first: after 'a', both 'c' and 'b' are ready; 'c' is earlier in the file.
  auto s = must_parse(R"({"name": "diamond", "stages": [
    {"name": "d", "after": ["b", "c"], "run": {"builtin": "echo"}},
    {"name": "c", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "a", "run": {"builtin": "echo"}}]})");
  BOOST_TEST(order_of(*s) == (names{"a", "c", "b", "d"}), boost::test_tools::per_element());
  // 'after' lists are in topological order, not file order.
  BOOST_TEST(after_of(*s, "d") == (names{"c", "b"}), boost::test_tools::per_element());
  check_sets_agree(*s);
  // Whichever ready stage is first in the file goes first, not the alphabet's first:
  // 'beta' becomes ready after 'zeta' and still goes before 'alpha'.
  auto roots = must_parse(R"({"name": "roots", "stages": [
    {"name": "zeta", "run": {"builtin": "echo"}},
    {"name": "beta", "after": ["zeta"], "run": {"builtin": "echo"}},
    {"name": "alpha", "run": {"builtin": "echo"}}]})");
  BOOST_TEST(order_of(*roots) == (names{"zeta", "beta", "alpha"}), boost::test_tools::per_element());
  // A sorted file sorts to itself.
  BOOST_TEST(order_of(*must_parse_doc(s->to_json())) == order_of(*s), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_diamond_has_its_transitive_sets) {
  const auto d_ptr = diamond_spec();
  const auto& d = *d_ptr;
  BOOST_TEST(order_of(d) == (names{"a", "b", "c", "d"}), boost::test_tools::per_element());
  BOOST_TEST(before_of(d, "a") == (names{"b", "c"}), boost::test_tools::per_element());
  BOOST_TEST(after_of(d, "d") == (names{"b", "c"}), boost::test_tools::per_element());
  BOOST_TEST(downstream_of(d, "a") == (names{"b", "c", "d"}), boost::test_tools::per_element());
  BOOST_TEST(downstream_of(d, "b") == names{"d"}, boost::test_tools::per_element());
  BOOST_TEST(downstream_of(d, "c") == names{"d"}, boost::test_tools::per_element());
  BOOST_TEST(upstream_of(d, "d") == (names{"a", "b", "c"}), boost::test_tools::per_element());
  BOOST_TEST(upstream_of(d, "b") == names{"a"}, boost::test_tools::per_element());
  // Siblings are neither upstream nor downstream of each other.
  BOOST_CHECK(!d.is_upstream(d.find("b"), d.find("c")));
  BOOST_CHECK(!d.is_upstream(d.find("c"), d.find("b")));
  BOOST_CHECK(d.is_upstream(d.find("a"), d.find("d")));
  BOOST_CHECK(!d.is_upstream(d.find("d"), d.find("a")));
  check_sets_agree(d);
}

BOOST_AUTO_TEST_CASE(a_wide_fan_out_has_its_transitive_sets) {
  const auto f_ptr = fan_out_spec();
  const auto& f = *f_ptr;
  BOOST_REQUIRE_EQUAL(f.size(), std::size_t(fan_width + 2));
  names leaves;
  for (int k = 0; k < fan_width; ++k) leaves.push_back(leaf(k));
  names all = leaves;
  all.push_back("join");
  names order = {"src"};
  order.insert(order.end(), all.begin(), all.end());
  BOOST_TEST(order_of(f) == order, boost::test_tools::per_element());
  BOOST_TEST(before_of(f, "src") == leaves, boost::test_tools::per_element());
  BOOST_TEST(downstream_of(f, "src") == all, boost::test_tools::per_element());
  BOOST_TEST(after_of(f, "join") == leaves, boost::test_tools::per_element());
  names up = {"src"};
  up.insert(up.end(), leaves.begin(), leaves.end());
  BOOST_TEST(upstream_of(f, "join") == up, boost::test_tools::per_element());
  for (int k = 0; k < fan_width; ++k) {
    BOOST_TEST(upstream_of(f, leaf(k)) == names{"src"}, boost::test_tools::per_element());
    BOOST_TEST(downstream_of(f, leaf(k)) == names{"join"}, boost::test_tools::per_element());
  }
  check_sets_agree(f);
}

BOOST_AUTO_TEST_CASE(the_example_spec_is_read_as_written) {
  const auto e_ptr = example_spec();
  const auto& e = *e_ptr;
  BOOST_CHECK_EQUAL(e.name(), "dairector");
  BOOST_TEST(order_of(e) == (names{"idea", "analyze", "slice", "handoff", "execute", "validate"}),
             boost::test_tools::per_element());
  const stage_spec& analyze = e[e.find("analyze")];
  BOOST_CHECK(analyze.run.what == run_spec::kind::command);
  BOOST_CHECK((analyze.run.argv == std::vector<std::string>{"sh", "analyze.sh"}));
  BOOST_CHECK_EQUAL(analyze.run.timeout_s, 600u);
  BOOST_REQUIRE(analyze.confirm.has_value());
  BOOST_CHECK_EQUAL(*analyze.confirm, "Approve the design before slicing?");
  const stage_spec& validate = e[e.find("validate")];
  BOOST_CHECK(validate.run.what == run_spec::kind::fail);
  BOOST_CHECK_EQUAL(validate.run.times, 1u);
  BOOST_REQUIRE(validate.on_failure.has_value());
  BOOST_CHECK_EQUAL(validate.on_failure->rerun, e.find("execute"));
  BOOST_CHECK_EQUAL(validate.on_failure->max_attempts, 3u);
  BOOST_CHECK_EQUAL(e[e.find("execute")].run.ms, 200u);
  BOOST_CHECK_EQUAL(e.find("nope"), no_stage);
  BOOST_CHECK_EQUAL(e.find(""), no_stage);
  check_sets_agree(e);
}

// ---------------------------------------------------------------- canonical JSON

BOOST_AUTO_TEST_CASE(to_json_parses_back_to_itself) {
  check_round_trip(*line_spec());
  check_round_trip(*diamond_spec());
  check_round_trip(*fan_out_spec());
  check_round_trip(*example_spec());
  check_round_trip(*must_parse(R"({"name": "all-kinds", "stages": [
    {"name": "c", "run": {"command": ["sh", "-c", "echo {}"], "env": {"A": "1", "B": ""}}},
    {"name": "h", "after": ["c"], "run": {"handler": "mine"}, "confirm": "Go on?"},
    {"name": "s", "after": ["h"], "run": {"builtin": "sleep", "ms": 5}},
    {"name": "f", "after": ["s"], "run": {"builtin": "fail", "times": 0},
     "on_failure": {"rerun": "c", "max_attempts": 1000}}]})"));
}

BOOST_AUTO_TEST_CASE(to_json_is_canonical) {
  auto s = must_parse(R"({"name": "p", "stages": [
    {"name": "late", "after": ["early"], "run": {"command": ["prog"]}},
    {"name": "early", "run": {"builtin": "echo"}}]})");
  const json expected = json::parse(R"({"name": "p", "stages": [
    {"name": "early", "after": [], "run": {"builtin": "echo"}},
    {"name": "late", "after": ["early"], "run": {"command": ["prog"], "timeout_s": 3600}}]})");
  BOOST_CHECK_EQUAL(s->to_json().dump(), expected.dump());
}

BOOST_AUTO_TEST_SUITE_END()
