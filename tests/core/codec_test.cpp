// The event codec (docs/events.md, docs/contributing.md#habit-4-frozen-formats): every event type
// encodes to its frozen fields, decodes, and re-encodes to the same JSON;
// anything malformed decodes to an error value naming the problem; times
// format and parse back exactly.
#include <cstdint>
#include <string>
#include <vector>

#include "core/fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

constexpr std::int64_t sample_at_ms = 1'795'321'233'123;  // 2026-11-22T04:20:33.123Z, as in docs/events.md#fields-every-event-has

/// One event of type `t`, with every field its type carries set.
event sample(event_type t, const std::shared_ptr<const pipeline_spec>& spec) {
  const pipeline_spec& sp = *spec;
  event e;
  e.seq = 7;
  e.at_ms = sample_at_ms;
  e.by = "user:ana";
  e.pipeline = "p-1";
  e.type = t;
  switch (t) {  // no default: a new event type must get a sample here
    case event_type::pipeline_created:
      e.seq = 1;
      e.by = "user:ana";
      e.spec = spec;
      e.seed = 4'503'599'627'370'495;  // 2^52 - 1: exact in every JSON reader
      break;
    case event_type::stage_started:
      e.stage = sp.find("analyze");
      e.run = 7;
      e.by = "system";
      break;
    case event_type::stage_completed:
      e.stage = sp.find("analyze");
      e.run = 3;
      e.by = "worker:w-1";
      e.payload = std::make_shared<const json>(json::parse(
          R"({"design": "two actors", "n": [1, -2, 2.5, null, true], "nested": {"k\u00fc": "\u2713"}, "empty": {}})"));
      break;
    case event_type::stage_failed:
      e.stage = sp.find("validate");
      e.run = 5;
      e.by = "worker:w-1";
      e.text = "exit status 2: \"quoted\"\nsecond line of stderr";
      break;
    case event_type::stage_cancelled:
      e.stage = sp.find("execute");
      e.run = 4;
      break;
    case event_type::stage_interrupted:
      e.stage = sp.find("execute");
      e.run = 4;
      e.by = "system";
      break;
    case event_type::result_discarded:
      e.stage = sp.find("execute");
      e.run = 4;
      e.by = "system";
      e.text = "completed";
      break;
    case event_type::context_changed:
      e.stage = sp.find("slice");
      e.payload = std::make_shared<const json>(json{{"focus", "api"}, {"limit", 3}});
      break;
    case event_type::confirmation_requested:
      e.stage = sp.find("analyze");
      e.by = "system";
      e.text = "Approve the design before slicing?";
      break;
    case event_type::confirmation_resolved:
      e.stage = sp.find("analyze");
      e.approved = true;
      e.text = "fine by me";
      break;
    case event_type::rolled_back:
      e.to = 3;
      break;
    case event_type::rerun_requested:
      e.stage = sp.find("validate");
      e.rerun = sp.find("execute");
      e.by = "system";
      break;
    case event_type::retry_scheduled:
      e.stage = sp.find("validate");
      e.run = 5;
      e.delay_ms = 1500;
      e.by = "system";
      break;
    case event_type::retry_requested:
      e.stage = sp.find("validate");
      break;
  }
  return e;
}

/// The frozen JSON of `sample(t)`: the fields written to disk.
json golden(event_type t, const pipeline_spec& spec) {
  json j = json::parse(R"({"v": 1, "seq": 7, "at": "2026-11-22T04:20:33.123Z", "by": "user:ana", "pipeline": "p-1"})");
  j["type"] = to_string(t);
  auto add = [&](const char* text) { j.update(json::parse(text)); };
  switch (t) {
    case event_type::pipeline_created:
      j["seq"] = 1;
      j["spec"] = spec.to_json();
      j["seed"] = 4'503'599'627'370'495;
      break;
    case event_type::stage_started: add(R"({"by": "system", "stage": "analyze", "run": 7})"); break;
    case event_type::stage_completed:
      add(R"({"by": "worker:w-1", "stage": "analyze", "run": 3, "output":
              {"design": "two actors", "n": [1, -2, 2.5, null, true], "nested": {"k\u00fc": "\u2713"}, "empty": {}}})");
      break;
    case event_type::stage_failed:
      add(R"({"by": "worker:w-1", "stage": "validate", "run": 5,
              "error": "exit status 2: \"quoted\"\nsecond line of stderr"})");
      break;
    case event_type::stage_cancelled: add(R"({"stage": "execute", "run": 4})"); break;
    case event_type::stage_interrupted: add(R"({"by": "system", "stage": "execute", "run": 4})"); break;
    case event_type::result_discarded:
      add(R"({"by": "system", "stage": "execute", "run": 4, "outcome": "completed"})");
      break;
    case event_type::context_changed: add(R"({"stage": "slice", "context": {"focus": "api", "limit": 3}})"); break;
    case event_type::confirmation_requested:
      add(R"({"by": "system", "stage": "analyze", "message": "Approve the design before slicing?"})");
      break;
    case event_type::confirmation_resolved:
      add(R"({"stage": "analyze", "approved": true, "note": "fine by me"})");
      break;
    case event_type::rolled_back: add(R"({"to": 3})"); break;
    case event_type::rerun_requested: add(R"({"by": "system", "stage": "validate", "rerun": "execute"})"); break;
    case event_type::retry_scheduled: add(R"({"by": "system", "stage": "validate", "run": 5, "delay_ms": 1500})"); break;
    case event_type::retry_requested: add(R"({"stage": "validate"})"); break;
  }
  return j;
}

std::vector<event_type> all_types() {
  std::vector<event_type> out;
  for (int k = 0; k < event_type_count; ++k) out.push_back(static_cast<event_type>(k));
  return out;
}

/// Decodes `j`, which must be refused; returns the message.
std::string decode_refusal(const json& j, const pipeline_spec* spec) {
  auto r = decode_event(j, spec);
  BOOST_REQUIRE_MESSAGE(!r.ok(), "should not decode: " << j.dump());
  BOOST_CHECK(r.err().code == errc::decode_failed);
  return r.err().message;
}

/// Encodes, decodes and re-encodes `e`; everything must agree.
void check_round_trip(const event& e, const pipeline_spec* spec) {
  const json first = encode_event(e, spec);
  auto back = decode_event(first, spec);
  BOOST_REQUIRE_MESSAGE(back.ok(), describe(back) << " for " << first.dump());
  BOOST_CHECK(same_event(e, *back));
  BOOST_CHECK_EQUAL(encode_event(*back, spec).dump(), first.dump());
  // And as one line of text, the journal's and `history --json`'s form.
  const std::string line = encode_event_text(e, spec);
  BOOST_CHECK(line.find('\n') == std::string::npos);
  auto from_text = decode_event_text(line, spec);
  BOOST_REQUIRE_MESSAGE(from_text.ok(), describe(from_text) << " for " << line);
  BOOST_CHECK(same_event(e, *from_text));
  BOOST_CHECK_EQUAL(encode_event_text(*from_text, spec), line);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(codec)

// ---------------------------------------------------------------- names

BOOST_AUTO_TEST_CASE(event_type_names_are_frozen) {
  const std::vector<std::string> frozen = {
      "pipeline_created",       "stage_started",         "stage_completed", "stage_failed",
      "stage_cancelled",        "stage_interrupted",     "result_discarded", "context_changed",
      "confirmation_requested", "confirmation_resolved", "rolled_back",     "rerun_requested",
      "retry_scheduled",        "retry_requested"};
  BOOST_REQUIRE_EQUAL(frozen.size(), std::size_t(event_type_count));
  for (int k = 0; k < event_type_count; ++k) {
    const auto t = static_cast<event_type>(k);
    BOOST_CHECK_EQUAL(to_string(t), frozen[std::size_t(k)]);
    const auto back = event_type_from(frozen[std::size_t(k)]);
    BOOST_REQUIRE(back.has_value());
    BOOST_CHECK_EQUAL(*back, t);
  }
  BOOST_CHECK(!event_type_from("stage_exploded").has_value());
  BOOST_CHECK(!event_type_from("").has_value());
  BOOST_CHECK(!event_type_from("Stage_Started").has_value());
  BOOST_CHECK_EQUAL(to_string(static_cast<event_type>(event_type_count)), "?");
}

// ---------------------------------------------------------------- round trips

BOOST_AUTO_TEST_CASE(every_event_type_encodes_to_its_frozen_fields) {
  const auto spec = example_spec();
  for (event_type t : all_types()) {
    BOOST_TEST_CONTEXT("event type " << to_string(t)) {
      const json got = encode_event(sample(t, spec), spec.get());
      const json want = golden(t, *spec);
      BOOST_CHECK_MESSAGE(got == want, "encoded " << got.dump() << "\n expected " << want.dump());
    }
  }
}

// A journal from before seeds: pipeline_created without "seed" reads as 0,
// and a seed of 0 is not written, so such a journal re-encodes byte for byte.
BOOST_AUTO_TEST_CASE(pipeline_created_without_a_seed_decodes_as_seed_zero) {
  const auto spec = example_spec();
  json old = encode_event(sample(event_type::pipeline_created, spec), nullptr);
  old.erase("seed");
  auto e = decode_event(old, nullptr);
  BOOST_REQUIRE_MESSAGE(e.ok(), describe(e));
  BOOST_CHECK_EQUAL(e->seed, 0u);
  BOOST_CHECK_EQUAL(encode_event(*e, nullptr).dump(), old.dump());
  BOOST_CHECK_EQUAL(encode_event_text(*e, nullptr), old.dump());
  auto from_text = decode_event_text(old.dump(), nullptr);
  BOOST_REQUIRE(from_text.ok());
  BOOST_CHECK_EQUAL(from_text->seed, 0u);
  json bad = encode_event(sample(event_type::pipeline_created, spec), nullptr);
  bad["seed"] = "12";
  BOOST_CHECK(decode_refusal(bad, nullptr).find("\"seed\" must be a non-negative integer") != std::string::npos);
  json no_delay = encode_event(sample(event_type::retry_scheduled, spec), spec.get());
  no_delay.erase("delay_ms");
  BOOST_CHECK(decode_refusal(no_delay, spec.get()).find("\"delay_ms\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_event_type_round_trips) {
  const auto spec = example_spec();
  for (event_type t : all_types()) {
    BOOST_TEST_CONTEXT("event type " << to_string(t)) { check_round_trip(sample(t, spec), spec.get()); }
  }
}

BOOST_AUTO_TEST_CASE(variants_round_trip) {
  const auto spec = example_spec();
  // A cancel of the whole pipeline has no stage and no run.
  event all = sample(event_type::stage_cancelled, spec);
  all.stage = no_stage;
  all.run = 0;
  const json j = encode_event(all, spec.get());
  BOOST_CHECK(j.at("stage").is_null());
  BOOST_CHECK(!j.contains("run"));
  check_round_trip(all, spec.get());
  // A rejection, an empty note, a failure outcome, an empty error.
  event rejected = sample(event_type::confirmation_resolved, spec);
  rejected.approved = false;
  rejected.text = "";
  check_round_trip(rejected, spec.get());
  event discarded = sample(event_type::result_discarded, spec);
  discarded.text = "failed";
  check_round_trip(discarded, spec.get());
  event failed = sample(event_type::stage_failed, spec);
  failed.text = "";
  check_round_trip(failed, spec.get());
  // Outputs of every JSON kind, and big numbers.
  for (const char* output : {"null", "0", "18446744073709551615", "-9223372036854775808", "\"text\"", "[]",
                             "[[[]]]", "{\"a\": {\"b\": [1, {\"c\": null}]}}"}) {
    BOOST_TEST_CONTEXT("output " << output) {
      event e = sample(event_type::stage_completed, spec);
      e.payload = std::make_shared<const json>(json::parse(output));
      check_round_trip(e, spec.get());
    }
  }
  // Times around the epoch and the largest seq and run.
  event started = sample(event_type::stage_started, spec);
  for (std::int64_t at : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{253'402'300'799'999}}) {
    started.at_ms = at;
    check_round_trip(started, spec.get());
  }
  started.seq = started.run = UINT64_MAX;
  check_round_trip(started, spec.get());
  // pipeline_created carries its own spec: no spec needed to read it.
  const event created = sample(event_type::pipeline_created, spec);
  auto back = decode_event(encode_event(created, nullptr), nullptr);
  BOOST_REQUIRE_MESSAGE(back.ok(), describe(back));
  BOOST_CHECK(same_event(created, *back));
  BOOST_CHECK_EQUAL(back->spec->to_json().dump(), spec->to_json().dump());
}

// pipeline_created's optional `input` (docs/events.md): written only when
// given (so journals without it read as before and re-encode to the same
// bytes), as JSON of any kind, on both paths; null reads as none.
BOOST_AUTO_TEST_CASE(pipeline_created_with_an_input_round_trips) {
  const auto spec = example_spec();
  event created = sample(event_type::pipeline_created, spec);
  BOOST_CHECK(encode_event_text(created, nullptr).find("\"input\"") == std::string::npos);
  for (const char* input : {"0", "\"text\"", "[]", "{\"topic\": \"retries\", \"n\": [1, {\"k\": null}]}"}) {
    BOOST_TEST_CONTEXT("input " << input) {
      created.payload = std::make_shared<const json>(json::parse(input));
      check_round_trip(created, nullptr);
      const std::string line = encode_event_text(created, nullptr);
      // Its place among the fields: after "by", before "pipeline" (byte order).
      BOOST_CHECK_LT(line.find("\"by\":"), line.find("\"input\":" + json::parse(input).dump()));
      BOOST_CHECK_LT(line.find("\"input\":"), line.find("\"pipeline\":"));
    }
  }
  json j = encode_event(created, nullptr);
  j["input"] = nullptr;
  auto back = decode_event(j, nullptr);
  BOOST_REQUIRE_MESSAGE(back.ok(), describe(back));
  BOOST_CHECK(back->payload == nullptr);
  // Bounded like any value (json_bounds.hpp).
  json deep = json::array();
  for (std::size_t k = 0; k < json_value_depth_max; ++k) deep = json::array({deep});
  j["input"] = deep;
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, nullptr), "\"input\" nests deeper than");
}

BOOST_AUTO_TEST_CASE(same_event_notices_every_field) {
  const auto spec = example_spec();
  const event base = sample(event_type::confirmation_resolved, spec);
  BOOST_CHECK(same_event(base, base));
  auto differs = [&](auto change) {
    event e = base;
    change(e);
    return !same_event(base, e) && !same_event(e, base);
  };
  BOOST_CHECK(differs([](event& e) { e.seq += 1; }));
  BOOST_CHECK(differs([](event& e) { e.at_ms += 1; }));
  BOOST_CHECK(differs([](event& e) { e.by = "user:bob"; }));
  BOOST_CHECK(differs([](event& e) { e.pipeline = "p-2"; }));
  BOOST_CHECK(differs([](event& e) { e.type = event_type::confirmation_requested; }));
  BOOST_CHECK(differs([](event& e) { e.stage = 0; }));
  BOOST_CHECK(differs([](event& e) { e.run = 9; }));
  BOOST_CHECK(differs([](event& e) { e.text = "other"; }));
  BOOST_CHECK(differs([](event& e) { e.approved = false; }));
  BOOST_CHECK(differs([](event& e) { e.to = 2; }));
  BOOST_CHECK(differs([](event& e) { e.rerun = 1; }));
  BOOST_CHECK(differs([](event& e) { e.payload = std::make_shared<const json>(1); }));
  BOOST_CHECK(differs([&](event& e) { e.spec = spec; }));
  // Payloads compare by value, not by pointer.
  event a = sample(event_type::stage_completed, spec);
  event b = a;
  b.payload = std::make_shared<const json>(*a.payload);
  BOOST_CHECK(same_event(a, b));
}

// ---------------------------------------------------------------- refusals

BOOST_AUTO_TEST_CASE(an_unknown_type_is_refused) {
  const auto spec = example_spec();
  json j = encode_event(sample(event_type::stage_started, spec), spec.get());
  j["type"] = "stage_exploded";
  BOOST_CHECK_EQUAL(decode_refusal(j, spec.get()), "unknown event type 'stage_exploded'");
  j["type"] = 3;
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, spec.get()), "event has no \"type\"");
}

BOOST_AUTO_TEST_CASE(an_unknown_format_version_is_refused) {
  const auto spec = example_spec();
  json j = encode_event(sample(event_type::stage_started, spec), spec.get());
  j["v"] = 2;
  BOOST_CHECK_EQUAL(decode_refusal(j, spec.get()),
                    "event format version 2 is not supported (this build reads version 1)");
  j["v"] = 0;
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, spec.get()), "event format version 0 is not supported");
  j["v"] = "1";
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, spec.get()), "no format version \"v\"");
  j["v"] = 1.0;
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, spec.get()), "no format version \"v\"");
}

BOOST_AUTO_TEST_CASE(every_missing_field_is_refused_naming_it) {
  const auto spec = example_spec();
  for (event_type t : all_types()) {
    const json full = encode_event(sample(t, spec), spec.get());
    for (const auto& [key, value] : full.items()) {
      // A cancel without a stage is a cancel of the whole pipeline, by design.
      if (t == event_type::stage_cancelled && key == "stage") continue;
      // A creation without a seed is one from before seeds (seed 0).
      if (t == event_type::pipeline_created && key == "seed") continue;
      BOOST_TEST_CONTEXT("event type " << to_string(t) << " without \"" << key << "\"") {
        json j = full;
        j.erase(key);
        DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, spec.get()), "\"" + key + "\"");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(fields_of_the_wrong_kind_are_refused) {
  const auto spec = example_spec();
  struct row {
    event_type type;
    const char* key;
    json value;
    const char* problem;
  };
  const std::vector<row> rows = {
      {event_type::stage_started, "seq", json("7"), "\"seq\" must be a non-negative integer"},
      {event_type::stage_started, "seq", json(-7), "\"seq\" must be a non-negative integer"},
      {event_type::stage_started, "seq", json(7.5), "\"seq\" must be a non-negative integer"},
      {event_type::stage_started, "seq", json(0u), "seq must start at 1"},
      {event_type::stage_started, "run", json(-1), "\"run\" must be a non-negative integer"},
      {event_type::stage_started, "stage", json(1), "\"stage\" must be a stage name"},
      {event_type::stage_started, "stage", json(nullptr), "\"stage\" must be a stage name"},
      {event_type::stage_started, "by", json(nullptr), "\"by\" must be a string"},
      {event_type::stage_started, "pipeline", json(5), "\"pipeline\" must be a string"},
      {event_type::stage_started, "pipeline", json(""), "empty pipeline id"},
      {event_type::stage_started, "at", json(sample_at_ms), "\"at\" must be a string"},
      {event_type::stage_failed, "error", json(2), "\"error\" must be a string"},
      {event_type::result_discarded, "outcome", json(true), "\"outcome\" must be a string"},
      {event_type::confirmation_requested, "message", json::array(), "\"message\" must be a string"},
      {event_type::confirmation_resolved, "approved", json("yes"), "\"approved\" must be true or false"},
      {event_type::confirmation_resolved, "approved", json(1), "\"approved\" must be true or false"},
      {event_type::confirmation_resolved, "note", json(nullptr), "\"note\" must be a string"},
      {event_type::rolled_back, "to", json(-3), "\"to\" must be a non-negative integer"},
      {event_type::rerun_requested, "rerun", json(nullptr), "\"rerun\" must be a stage name"},
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(to_string(r.type) << " with \"" << r.key << "\": " << r.value.dump()) {
      json j = encode_event(sample(r.type, spec), spec.get());
      j[r.key] = r.value;
      const std::string msg = decode_refusal(j, spec.get());
      DAIRECTOR_CHECK_CONTAINS(msg, r.problem);
      DAIRECTOR_CHECK_CONTAINS(msg, std::string("event ") + to_string(r.type));
    }
  }
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(json::array(), spec.get()), "an event must be a JSON object");
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(json("stage_started"), spec.get()), "an event must be a JSON object");
}

BOOST_AUTO_TEST_CASE(an_unknown_stage_name_is_refused) {
  const auto spec = example_spec();
  json j = encode_event(sample(event_type::stage_completed, spec), spec.get());
  j["stage"] = "deploy";
  BOOST_CHECK_EQUAL(decode_refusal(j, spec.get()),
                    "event stage_completed: unknown stage 'deploy' in pipeline 'dairector'");
  json r = encode_event(sample(event_type::rerun_requested, spec), spec.get());
  r["rerun"] = "Execute";
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(r, spec.get()), "unknown stage 'Execute'");
  json c = encode_event(sample(event_type::stage_cancelled, spec), spec.get());
  c["stage"] = "ghost";
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(c, spec.get()), "unknown stage 'ghost'");
  // Without a spec, stage names cannot be resolved at all.
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(encode_event(sample(event_type::stage_started, spec), spec.get()), nullptr),
                           "no pipeline spec to resolve stage names");
}

BOOST_AUTO_TEST_CASE(a_bad_time_is_refused) {
  const auto spec = example_spec();
  for (const char* at : {"2026-02-30T00:00:00.000Z", "2026-11-22T04:20:33Z", "2026-11-22 04:20:33.123Z",
                         "yesterday", "", "2026-11-22T25:00:00.000Z"}) {
    BOOST_TEST_CONTEXT("at " << at) {
      json j = encode_event(sample(event_type::stage_started, spec), spec.get());
      j["at"] = at;
      BOOST_CHECK_EQUAL(decode_refusal(j, spec.get()),
                        "event stage_started: \"at\" is not a time like 2026-11-22T04:20:33.123Z");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_bad_spec_in_pipeline_created_is_refused) {
  const auto spec = example_spec();
  json j = encode_event(sample(event_type::pipeline_created, spec), nullptr);
  j["spec"]["stages"][1]["after"] = json::array({"nowhere"});
  const std::string msg = decode_refusal(j, nullptr);
  DAIRECTOR_CHECK_CONTAINS(msg, "event pipeline_created: bad spec:");
  DAIRECTOR_CHECK_CONTAINS(msg, "stage 'analyze': \"after\" names unknown stage 'nowhere'");
  j["spec"] = nullptr;
  DAIRECTOR_CHECK_CONTAINS(decode_refusal(j, nullptr), "bad spec");
}

BOOST_AUTO_TEST_CASE(bad_text_is_refused) {
  const auto spec = example_spec();
  for (const char* text : {"", "{", "{\"v\": 1,}", "not json", "{\"v\": 1} trailing", "{\"v\": 1e400}"}) {
    BOOST_TEST_CONTEXT("text '" << text << "'") {
      auto r = decode_event_text(text, spec.get());
      BOOST_REQUIRE(!r.ok());
      BOOST_CHECK(r.err().code == errc::decode_failed);
      BOOST_CHECK_EQUAL(r.err().message, "an event is not valid JSON");
    }
  }
  // One byte over the bound is refused before it is parsed.
  const std::string huge(event_bytes_max + 1, ' ');
  auto r = decode_event_text(huge, spec.get());
  BOOST_REQUIRE(!r.ok());
  DAIRECTOR_CHECK_CONTAINS(r.err().message, "over the limit of " + std::to_string(event_bytes_max));
}

BOOST_AUTO_TEST_CASE(a_value_nested_too_deep_is_refused_on_both_paths_never_a_crash) {
  // A row with an output nested 70,000 deep (as an old `serve` could record)
  // must be damage with a sentence, not a stack overflow: in the encoder's
  // own text (the direct decoder) and with other spacing (nlohmann's path).
  const auto spec = example_spec();
  event e = sample(event_type::stage_completed, spec);
  const std::string canonical = encode_event_text(e, spec.get());
  const std::string output = e.payload->dump();
  BOOST_REQUIRE(canonical.find(output) != std::string::npos);
  auto with_output = [&](const std::string& value, bool spaced) {
    std::string text = canonical;
    text.replace(text.find(output), output.size(), value);
    if (spaced) text.insert(1, " ");  // not the canonical form: the full parser reads it
    return text;
  };
  auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  for (bool spaced : {false, true}) {
    BOOST_TEST_CONTEXT((spaced ? "nlohmann's path" : "the direct decoder")) {
      auto deep = decode_event_text(with_output(nested(70'000), spaced), spec.get());
      BOOST_REQUIRE(!deep.ok());
      BOOST_CHECK_EQUAL(deep.err().message, "an event nests deeper than 256 arrays and objects");
      // Within the document's bound but past a value's: no admitted value
      // is that deep, and its envelopes could not be read back.
      auto past = decode_event_text(with_output(nested(json_value_depth_max + 1), spaced), spec.get());
      BOOST_REQUIRE(!past.ok());
      BOOST_CHECK_EQUAL(past.err().message, "event stage_completed: \"output\" nests deeper than 248 arrays and objects");
      auto deepest = decode_event_text(with_output(nested(json_value_depth_max), spaced), spec.get());
      BOOST_REQUIRE_MESSAGE(deepest.ok(), describe(deepest));
      BOOST_CHECK_EQUAL(encode_event_text(*deepest, spec.get()), with_output(nested(json_value_depth_max), false));
    }
  }
  // A document decoded from elsewhere (a server's history) is bounded too.
  json doc = encode_event(e, spec.get());
  json deep_value = json::array();
  for (int k = 0; k < 70'000; ++k) deep_value = json::array({std::move(deep_value)});
  doc["output"] = std::move(deep_value);
  auto r = decode_event(doc, spec.get());
  BOOST_REQUIRE(!r.ok());
  BOOST_CHECK_EQUAL(r.err().message, "an event nests deeper than 256 arrays and objects");
}

// ---------------------------------------------------------------- time

BOOST_AUTO_TEST_CASE(known_times_format_and_parse_back) {
  struct row {
    std::int64_t at_ms;
    const char* text;
  };
  // Checked against `date -u -d ... +%s`.
  const std::vector<row> rows = {
      {0, "1970-01-01T00:00:00.000Z"},                       // the epoch
      {-1, "1969-12-31T23:59:59.999Z"},                      // just before it
      {1'795'321'233'123, "2026-11-22T04:20:33.123Z"},       // the example of docs/events.md#fields-every-event-has
      {1'709'210'096'789, "2024-02-29T12:34:56.789Z"},       // a leap day
      {951'782'400'000, "2000-02-29T00:00:00.000Z"},         // a leap day of a century divisible by 400
      {-2'203'891'200'000, "1900-03-01T00:00:00.000Z"},      // 1900 had no 29 February
      {253'402'300'799'999, "9999-12-31T23:59:59.999Z"},     // the far future: the last time the form holds
  };
  for (const auto& r : rows) {
    BOOST_TEST_CONTEXT(r.text) {
      BOOST_CHECK_EQUAL(format_time(r.at_ms), r.text);
      const auto back = parse_time(r.text);
      BOOST_REQUIRE(back.has_value());
      BOOST_CHECK_EQUAL(*back, r.at_ms);
    }
  }
}

BOOST_AUTO_TEST_CASE(impossible_or_malformed_times_are_refused) {
  for (const char* text : {
           "2026-02-30T00:00:00.000Z",  // February 30
           "2023-02-29T00:00:00.000Z",  // not a leap year
           "1900-02-29T00:00:00.000Z",  // a century not divisible by 400
           "2026-04-31T00:00:00.000Z",  // April has 30 days
           "2026-13-01T00:00:00.000Z",  "2026-00-10T00:00:00.000Z", "2026-01-00T00:00:00.000Z",
           "2026-01-32T00:00:00.000Z",  "2026-01-01T24:00:00.000Z", "2026-01-01T23:60:00.000Z",
           "2026-01-01T23:59:60.000Z",  // no leap seconds
           "2026-11-22T04:20:33Z",      "2026-11-22T04:20:33.123",  "2026-11-22T04:20:33.1234Z",
           "2026-11-22t04:20:33.123Z",  "2026-11-22T04:20:33.123z", "2026-11-22 04:20:33.123Z",
           "2026/11/22T04:20:33.123Z",  "+026-11-22T04:20:33.123Z", "2026-11-22T04:20:33.12aZ",
           "2026-1a-22T04:20:33.123Z",  " 2026-11-22T04:20:33.123Z", "", "T"}) {
    BOOST_TEST_CONTEXT("'" << text << "'") { BOOST_CHECK(!parse_time(text).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(every_day_formats_and_parses_back) {
  constexpr std::int64_t day_ms = 86'400'000;
  auto check = [&](std::int64_t day) {
    // A different time of day for every day, so each field is exercised.
    const std::int64_t at = day * day_ms + ((day * 7'919'113) % day_ms + day_ms) % day_ms;
    const std::string text = format_time(at);
    const auto back = parse_time(text);
    if (text.size() != 24 || !back || *back != at) {
      BOOST_ERROR("time " << at << " formats as '" << text << "' and parses back as "
                          << (back ? std::to_string(*back) : std::string("nothing")));
      return false;
    }
    return true;
  };
  // Every day from 1900 to 2100, then every 97th day over the whole range of the form.
  for (std::int64_t day = -25'567; day <= 47'482; ++day)
    if (!check(day)) return;
  const std::int64_t first_day = -719'162;  // 0001-01-01
  const std::int64_t last_day = 2'932'896;  // 9999-12-31
  for (std::int64_t day = first_day; day <= last_day; day += 97)
    if (!check(day)) return;
  BOOST_CHECK(check(first_day));
  BOOST_CHECK(check(last_day));
  BOOST_CHECK_EQUAL(format_time(first_day * day_ms), "0001-01-01T00:00:00.000Z");
  BOOST_CHECK_EQUAL(format_time(last_day * day_ms), "9999-12-31T00:00:00.000Z");
}

BOOST_AUTO_TEST_SUITE_END()
