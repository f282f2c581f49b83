// The journal's text codec is the frozen format (docs/events.md, format 1):
// encode_event_text writes the event directly, without building a json
// document, and decode_event_text reads the encoder's canonical text
// directly. Both must be byte for byte and error for error what the json
// document path gives: encode_event(e).dump(), and decode_event over
// json::parse. These stories hold them to it on every event type, on awkward
// strings, numbers and times, and on many damaged texts from a printed seed.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "journal/journal_fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// What decode_event_text must answer: the json document path.
result<event> decoded_by_document(std::string_view text, const pipeline_spec* spec) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(errc::decode_failed, "an event is not valid JSON");
  return decode_event(j, spec);
}

/// `text` decodes directly as the document path decodes it: the same event
/// (and the same bytes again), or the same error.
void check_decodes_alike(const std::string& text, const pipeline_spec* spec) {
  auto direct = decode_event_text(text, spec);
  auto reference = decoded_by_document(text, spec);
  BOOST_REQUIRE_MESSAGE(direct.ok() == reference.ok(),
                        "text " << text << "\ndirect: " << describe(direct) << "\ndocument: " << describe(reference));
  if (!direct.ok()) {
    BOOST_CHECK_EQUAL(direct.err().message, reference.err().message);
    BOOST_CHECK(direct.err().code == reference.err().code);
    return;
  }
  BOOST_CHECK_MESSAGE(same_event(*direct, *reference), "text " << text << " decodes to another event");
  const pipeline_spec* names = direct->type == event_type::pipeline_created ? nullptr : spec;
  BOOST_CHECK_EQUAL(encode_event_text(*direct, names), encode_event(*reference, names).dump());
}

/// Encodes `e` both ways (the same bytes), then decodes it both ways.
void check_codec(const event& e, const pipeline_spec* spec) {
  const std::string text = encode_event_text(e, spec);
  BOOST_REQUIRE_EQUAL(text, encode_event(e, spec).dump());
  check_decodes_alike(text, spec);
}

/// The strings that take the escaping path, and some that do not.
std::vector<std::string> awkward_strings() {
  return {"",
          "plain words",
          "quote \" and backslash \\",
          "new\nline, tab\t, return\r, feed\f, back\b",
          std::string("nul \0 and \x01 \x1f", 14),
          "del \x7f stays",
          "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80",
          "slash / and unicode-looking \\u0041",
          std::string(300, 'x')};
}

/// Every event of every_type_history(), each also with awkward strings in
/// every text field, extreme numbers and times.
std::vector<event> variants(const history& h) {
  std::vector<event> out;
  for (const event& e : h.events()) {
    out.push_back(e);
    for (const std::string& s : awkward_strings()) {
      event x = e;
      x.by = s;
      x.text = s;
      out.push_back(x);
      x = e;
      x.pipeline = s.empty() ? "p" : s;
      out.push_back(x);
    }
    for (std::int64_t at : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{-86'400'001}, std::int64_t{253'402'300'799'999},
                            std::int64_t{253'402'300'800'000}, std::int64_t{-62'167'219'200'001}}) {
      event x = e;
      x.at_ms = at;
      out.push_back(x);
    }
    event big = e;
    big.seq = UINT64_MAX;
    big.run = UINT64_MAX;
    big.to = UINT64_MAX - 1;
    out.push_back(big);
    if (e.payload) {
      for (const char* payload : {"null", "{}", "[]", "0", "-2.5e-300", "\"text\"",
                                  R"({"n": [1, -2, 2.5, 1e300, null, true], "s": "q\"\\\u0001\u00e9", "o": {}})"}) {
        event x = e;
        x.payload = std::make_shared<const json>(json::parse(payload));
        out.push_back(x);
      }
      event none = e;
      none.payload = nullptr;
      out.push_back(none);
    }
  }
  return out;
}

/// A fixed seed unless DAIRECTOR_SEED names one; printed either way.
std::uint64_t seed() {
  const char* given = std::getenv("DAIRECTOR_SEED");
  const std::uint64_t s = given ? std::strtoull(given, nullptr, 10) : 20261122;
  BOOST_TEST_MESSAGE("seed " << s << " (replay: DAIRECTOR_SEED=" << s << ")");
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(codec_text)

// A column read as NULL from a damaged file is an empty view with no data
// (fuzz_journal found row_crc copying from it: undefined behaviour, which
// the sanitizer build turns into a failure here).
BOOST_AUTO_TEST_CASE(the_row_checksum_takes_columns_with_no_data) {
  const std::uint32_t empty = row_crc(std::string_view(), 0, std::string_view(), 0, std::string_view(), std::string_view());
  BOOST_CHECK_EQUAL(empty, row_crc("", 0, "", 0, "", ""));
  BOOST_CHECK_EQUAL(row_crc("p", 1, std::string_view(), 5, "by", std::string_view()), row_crc("p", 1, "", 5, "by", ""));
}

BOOST_AUTO_TEST_CASE(the_direct_encoder_writes_the_documents_bytes_and_reads_them_back) {
  const history h = every_type_history();
  check_every_type(h.events());
  const pipeline_spec* spec = &h.spec();
  for (const event& e : variants(h)) {
    BOOST_TEST_CONTEXT(to_string(e.type) << " seq " << e.seq) { check_codec(e, e.type == event_type::pipeline_created ? nullptr : spec); }
  }
  // A cancel of the whole pipeline, and stage indexes the spec does not have.
  event all = h.events().back();
  all.type = event_type::stage_cancelled;
  all.stage = no_stage;
  check_codec(all, spec);
  event unknown = h.events()[1];
  unknown.stage = 99;
  check_codec(unknown, spec);
  check_codec(unknown, nullptr);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_refused_by_both_encoders) {
  const history h = every_type_history();
  event e = h.events()[1];
  e.by = "user:\xC3";  // a truncated two-byte sequence
  BOOST_CHECK_THROW(encode_event(e, &h.spec()).dump(), json::exception);
  BOOST_CHECK_THROW(encode_event_text(e, &h.spec()), json::exception);
}

BOOST_AUTO_TEST_CASE(texts_not_in_canonical_form_decode_as_the_document_path_decodes_them) {
  const history h = every_type_history();
  const pipeline_spec* spec = &h.spec();
  const std::string started = encode_event_text(h.events()[1], spec);  // stage_started
  const std::vector<std::string> texts = {
      // Other spacing, key order, duplicates, escapes: valid JSON, other bytes.
      " " + started, started + " ", "{ \"v\":1," + started.substr(1),
      R"({"v":1,"type":"stage_started","seq":2,"run":2,"stage":"draft","pipeline":"p-1","by":"user:test","at":"2026-11-22T04:20:33.123Z"})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2,"seq":2,"seq":3,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:\u0074est","pipeline":"p-1","run":2,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","extra":[1,{"a":"}"}],"pipeline":"p-1","run":2,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      // Numbers as JSON writes them, or not.
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":02,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2.0,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2e0,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":-2,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":18446744073709551616,"seq":2,"stage":"draft","type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2,"seq":2,"stage":"draft","type":"stage_started","v":9223372036854775808})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2,"seq":2,"stage":"draft","type":"stage_started","v":2})",
      // Kinds, literals and payloads.
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2,"seq":2,"stage":null,"type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2,"seq":2,"stage":nul,"type":"stage_started","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","run":2,"seq":2,"stage":"draft","type":"stage_started","v":true})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","output":{"a":[1,2,{"b":"]}"}]},"pipeline":"p-1","run":2,"seq":3,"stage":"draft","type":"stage_completed","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","output":{"a":[1,2},"pipeline":"p-1","run":2,"seq":3,"stage":"draft","type":"stage_completed","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","output":,"pipeline":"p-1","run":2,"seq":3,"stage":"draft","type":"stage_completed","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","output":"\"}","pipeline":"p-1","run":2,"seq":3,"stage":"draft","type":"stage_completed","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","output":01,"pipeline":"p-1","run":2,"seq":3,"stage":"draft","type":"stage_completed","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","output":{} ,"pipeline":"p-1","run":2,"seq":3,"stage":"draft","type":"stage_completed","v":1})",
      R"({"approved":1,"at":"2026-11-22T04:20:33.123Z","by":"user:test","note":"n","pipeline":"p-1","seq":3,"stage":"draft","type":"confirmation_resolved","v":1})",
      R"({"approved":false,"at":"2026-11-22T04:20:33.123Z","by":"user:test","note":"n","pipeline":"p-1","seq":3,"stage":"draft","type":"confirmation_resolved","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","seq":3,"stage":null,"type":"stage_cancelled","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","seq":3,"to":0,"type":"rolled_back","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"","seq":3,"to":0,"type":"rolled_back","v":1})",
      R"({"at":"2026-02-30T04:20:33.123Z","by":"user:test","pipeline":"p-1","seq":3,"to":0,"type":"rolled_back","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","seq":1,"spec":{"name":"x"},"type":"pipeline_created","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","seq":1,"spec":7,"type":"pipeline_created","v":1})",
      R"({"at":"2026-11-22T04:20:33.123Z","by":"user:test","pipeline":"p-1","seq":1,"type":"pipeline_created","v":1})",
      R"({})", R"([])", R"({"v":1})", R"({"v":1,})", R"({"v":1} x)", "", "{",
  };
  for (const std::string& text : texts) {
    BOOST_TEST_CONTEXT("text " << text) { check_decodes_alike(text, spec); }
  }
}

BOOST_AUTO_TEST_CASE(damaged_texts_decode_as_the_document_path_decodes_them) {
  const history h = every_type_history();
  const pipeline_spec* spec = &h.spec();
  std::vector<std::string> texts;
  for (const event& e : h.events()) texts.push_back(encode_event_text(e, e.type == event_type::pipeline_created ? nullptr : spec));
  std::uint64_t x = seed() | 1;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const std::string alphabet = "{}[]\":,0123456789.-eE tfnul\\ab\x7f\xC3\xA9\x01";
  for (int round = 0; round < 20'000; ++round) {
    std::string text = texts[next() % texts.size()];
    const int changes = 1 + static_cast<int>(next() % 3);
    for (int k = 0; k < changes && !text.empty(); ++k) {
      const std::size_t at = next() % text.size();
      const char c = alphabet[next() % alphabet.size()];
      switch (next() % 3) {
        case 0: text[at] = c; break;
        case 1: text.erase(at, 1 + next() % 3); break;
        default: text.insert(at, 1, c); break;
      }
    }
    BOOST_TEST_CONTEXT("round " << round) { check_decodes_alike(text, spec); }
  }
}

BOOST_AUTO_TEST_SUITE_END()
