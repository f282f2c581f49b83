// Bounded JSON (json_bounds.hpp): whatever nests too deep, is too large or
// gives a key twice is refused with a sentence naming the bound or the key,
// before anything recursive (dump, copy, compare) runs over it; a value in
// memory is measured without recursion; and the limits leave room for the
// envelopes we write values in.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/fixtures.hpp"
#include "dairector/file_read.hpp"
#include "dairector/json_bounds.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

std::string nested(std::size_t depth, std::string_view inner = "") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

// A value nested `depth` arrays deep, built without recursion.
json nested_value(std::size_t depth) {
  json out = json::array();
  for (std::size_t k = 1; k < depth; ++k) out = json::array({std::move(out)});
  return out;
}

json_fault fault_of(std::string_view text, json_limits limits = {}) {
  json_fault f{};
  auto r = parse_json(text, "it", limits, &f);
  BOOST_REQUIRE_MESSAGE(!r.ok(), "should be refused: " << text.substr(0, 80));
  return f;
}

// A folder of its own under /tmp, removed at the end of the story.
struct scratch {
  std::filesystem::path dir;
  scratch() {
    std::string name = "/tmp/dairector-bounds-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(name.data()) != nullptr);
    dir = name;
  }
  ~scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  std::string file(const char* name) const { return (dir / name).string(); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(json_bounds)

// ---------------------------------------------------------------- depth

BOOST_AUTO_TEST_CASE(text_nested_70000_deep_is_refused_naming_the_bound_not_a_crash) {
  for (const std::string& text : {nested(70'000), std::string(70'000, '[') /* not even closed */,
                           [] {
                             std::string t;
                             for (int k = 0; k < 70'000; ++k) t += "{\"a\":";
                             return t + "1" + std::string(70'000, '}');
                           }()}) {
    json_fault f{};
    auto r = parse_json(text, "the output", json_limits{}, &f);
    BOOST_REQUIRE(!r.ok());
    BOOST_CHECK(f == json_fault::too_deep);
    BOOST_CHECK(r.err().code == errc::decode_failed);
    BOOST_CHECK_EQUAL(r.err().message, "the output nests deeper than 256 arrays and objects");
  }
}

BOOST_AUTO_TEST_CASE(the_depth_bound_is_exact) {
  BOOST_CHECK(parse_json(nested(json_depth_max), "it").ok());
  BOOST_CHECK(fault_of(nested(json_depth_max + 1)) == json_fault::too_deep);
  BOOST_CHECK(parse_json(nested(3), "it", json_limits{3, 100}).ok());
  BOOST_CHECK(fault_of(nested(4), json_limits{3, 100}) == json_fault::too_deep);
  // Scalars nest 0 deep.
  BOOST_CHECK(parse_json("7", "it", json_limits{0, 100}).ok());
}

BOOST_AUTO_TEST_CASE(the_linear_pass_counts_brackets_outside_strings_only) {
  BOOST_CHECK_EQUAL(json_text_depth(R"(["[[[[", "\"[[", {"]]]": [1]}])"), 3u);
  BOOST_CHECK_EQUAL(json_text_depth("42"), 0u);
  BOOST_CHECK_EQUAL(json_text_depth(nested(10)), 10u);
  // It stops counting past the limit: a 70,000-deep text answers limit + 1.
  BOOST_CHECK_EQUAL(json_text_depth(nested(70'000), 256), 257u);
}

BOOST_AUTO_TEST_CASE(a_value_in_memory_is_measured_without_recursion) {
  const json deep = nested_value(70'000);  // destroyed iteratively by nlohmann
  const json_extent e = measure_json(deep, json_limits{json_depth_max, SIZE_MAX});
  BOOST_CHECK_EQUAL(e.depth, json_depth_max + 1);  // stopped right past the bound
  BOOST_CHECK_EQUAL(json_depth(deep), json_depth_max + 1);
  BOOST_CHECK_EQUAL(json_depth(json::parse(R"({"a": [1, {"b": []}], "c": "[[["})")), 4u);
  BOOST_CHECK_EQUAL(json_depth(json(3)), 0u);
  auto why = value_refusal(deep, "the output of handler 'grow'");
  BOOST_REQUIRE(why);
  BOOST_CHECK_EQUAL(*why, "the output of handler 'grow' nests deeper than 248 arrays and objects");
  BOOST_CHECK(!value_refusal(nested_value(json_value_depth_max), "it"));
  BOOST_CHECK(value_refusal(nested_value(json_value_depth_max + 1), "it"));
}

BOOST_AUTO_TEST_CASE(the_bytes_of_a_value_are_those_of_its_dump) {
  // Every kind of JSON the walk counts (floats aside: they count as their
  // longest form, never less than their dump).
  const std::vector<json> values = {
      json::parse(R"({"a": [1, -2, 30, true, false, null], "b\n\"q\\": "x\ty\u0001\u001f\u007f", "c": {}})"),
      json::parse(R"([[], {}, "", "Zoë ✓ 日本 🎉", 18446744073709551615, -9223372036854775808, 0])"),
      json::object(),
      json(nullptr),
      json("line\nbreak"),
  };
  for (const json& v : values) {
    const json_extent e = measure_json(v, json_limits{json_depth_max, SIZE_MAX});
    BOOST_CHECK_EQUAL(e.bytes, v.dump().size());
    BOOST_CHECK_EQUAL(e.depth, json_text_depth(v.dump()));
  }
  const json floats = json::parse("[1.5, -1e-300, 3.141592653589793]");
  BOOST_CHECK_GE(measure_json(floats).bytes, floats.dump().size());
}

// ---------------------------------------------------------------- size

BOOST_AUTO_TEST_CASE(text_over_the_size_bound_is_refused_before_parsing) {
  json_fault f{};
  auto r = parse_json(std::string(2048, ' ') + "1", "the body", json_limits{json_depth_max, 2048}, &f);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(f == json_fault::too_large);
  BOOST_CHECK_EQUAL(r.err().message, "the body is larger than 2 KiB (2049 bytes)");
}

BOOST_AUTO_TEST_CASE(a_value_larger_than_the_bound_or_not_utf8_is_not_admitted) {
  json big = json::array();
  const std::string mib(1u << 20, 'x');
  for (int k = 0; k < 17; ++k) big.push_back(mib);
  auto why = value_refusal(big, "the output of builtin echo");
  BOOST_REQUIRE(why);
  BOOST_CHECK_EQUAL(*why, "the output of builtin echo is larger than 16 MiB as JSON");
  // A C++ handler may build a string that is not UTF-8: dump() would throw
  // wherever it is written next.
  auto bad = value_refusal(json{{"k", std::string("\xff\xfe")}}, "the output");
  BOOST_REQUIRE(bad);
  DAIRECTOR_CHECK_CONTAINS(*bad, "not valid UTF-8");
}

// ---------------------------------------------------------------- keys

BOOST_AUTO_TEST_CASE(a_key_twice_is_refused_naming_the_key_and_its_object) {
  auto top = parse_json(R"({"name": "x", "name": "y"})", "spec.json");
  BOOST_REQUIRE(!top.ok());
  BOOST_CHECK_EQUAL(top.err().message, "spec.json has the key \"name\" twice in the top-level object");
  auto nested_key = parse_json(R"({"stages": [{"name": "a"}, {"name": "b", "run": {"builtin": "echo", "builtin": "x"}}]})",
                               "spec.json");
  BOOST_REQUIRE(!nested_key.ok());
  BOOST_CHECK_EQUAL(nested_key.err().message, "spec.json has the key \"builtin\" twice in stages[1].run");
  json_fault f{};
  (void)parse_json(R"([{"a": {"b": 1, "b": 2}}])", "it", json_limits{}, &f);
  BOOST_CHECK(f == json_fault::duplicate_key);
  // The same key in different objects is fine.
  BOOST_CHECK(parse_json(R"({"a": {"k": 1}, "b": {"k": 2}, "k": [{"k": 3}]})", "it").ok());
}

BOOST_AUTO_TEST_CASE(text_that_is_not_json_says_where) {
  json_fault f{};
  auto r = parse_json("{\"a\": 1,\n \"b\": }", "the body", json_limits{}, &f);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(f == json_fault::not_json);
  DAIRECTOR_CHECK_CONTAINS(r.err().message, "the body is not valid JSON: ");
  DAIRECTOR_CHECK_CONTAINS(r.err().message, "line 2");
  BOOST_CHECK(fault_of("") == json_fault::not_json);
  BOOST_CHECK(fault_of("1 2") == json_fault::not_json);
  BOOST_CHECK(fault_of("\"\xff\"") == json_fault::not_json);  // not UTF-8
  BOOST_CHECK(fault_of("1e400") == json_fault::not_json);     // past a double
}

BOOST_AUTO_TEST_CASE(what_is_parsed_is_what_nlohmann_would_build) {
  const std::string text = R"({"z": [1, 2.5, -3, "s", null, true, {"k": {}}], "a": {"b": [[], [[]]]}, "e": ""})";
  auto r = parse_json(text, "it");
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK(*r == json::parse(text));
}

// ---------------------------------------------------------------- envelopes

BOOST_AUTO_TEST_CASE(every_envelope_of_an_admitted_value_reads_back) {
  // The deepest value admitted, wrapped as we write it: an event, a stage's
  // input, a status answer, the HTTP history.
  const json value = nested_value(json_value_depth_max);
  const json event = {{"output", value}};
  const json input = {{"inputs", {{"a", value}}}, {"context", json::object()}};
  const json status = {{"stages", json::array({json{{"output", value}}})}};
  const json history = json::array({event});
  for (const json* doc : {&event, &input, &status, &history})
    BOOST_CHECK_MESSAGE(parse_json(doc->dump(), "it").ok(), "an envelope of depth " << json_text_depth(doc->dump()));
  // echo's output is its input: the deepest value echoed is no longer admitted.
  BOOST_CHECK(value_refusal(input, "the output of builtin echo"));
}

// ---------------------------------------------------------------- files

BOOST_AUTO_TEST_CASE(a_device_a_fifo_or_a_directory_is_refused_unread) {
  scratch s;
  auto zero = read_file("/dev/zero", 1u << 20, "the spec file", errc::spec_invalid);
  BOOST_REQUIRE(!zero.ok());
  BOOST_CHECK(zero.err().code == errc::spec_invalid);
  BOOST_CHECK_EQUAL(zero.err().message, "/dev/zero: the spec file is a character device, not a regular file");
  // A FIFO with no writer: opening it must not wait for one.
  const std::string fifo = s.file("fifo");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto f = read_file(fifo, 1u << 20, "the spec file", errc::spec_invalid);
  BOOST_REQUIRE(!f.ok());
  DAIRECTOR_CHECK_CONTAINS(f.err().message, "is a FIFO, not a regular file");
  auto d = read_file(s.dir.string(), 1u << 20, "the spec file", errc::spec_invalid);
  BOOST_REQUIRE(!d.ok());
  DAIRECTOR_CHECK_CONTAINS(d.err().message, "is a directory");
}

BOOST_AUTO_TEST_CASE(a_file_past_the_bound_is_refused_after_reading_the_bound_only) {
  scratch s;
  const std::string big = s.file("big.json");
  {
    std::ofstream out(big);
    out << "{}";
  }
  // Sparse: 17 MiB that cost no disk.
  std::filesystem::resize_file(big, 17u << 20);
  auto r = load_spec(big);
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK(r.err().code == errc::spec_invalid);
  BOOST_CHECK_EQUAL(r.err().message, big + ": the spec file is larger than 16 MiB (the limit)");
  auto exact = read_file(big, 17u << 20, "it", errc::refused);
  BOOST_CHECK(exact.ok() && exact->size() == (17u << 20));
}

BOOST_AUTO_TEST_SUITE_END()
