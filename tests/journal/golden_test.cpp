// Golden journals (docs/contributing.md#habit-4-frozen-formats): a journal written by format 1, checked
// in, must keep reading as the same events and replaying to a sound state,
// whatever the code that reads it becomes.
//
// golden/v1-example.db holds two pipelines written interleaved, in group
// commits, with a fixed clock, through every event type (the rollback
// resolved against the history when it was applied). golden/v1-example.jsonl
// is the history expected from it: every pipeline in order of creation, one
// encode_event_text line per event.
//
// Regenerate only for a new format (never overwrite v1; a test refuses to):
//   DAIRECTOR_WRITE_GOLDEN=/tmp/golden ./build/tests/journal_tests --run_test=golden
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "journal/journal_fixtures.hpp"

using namespace dairector;
using namespace dairector::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* golden_name = "v1-example";
constexpr std::int64_t golden_epoch_ms = 1'798'761'600'000;  // 2027-01-01T00:00:00.000Z
constexpr std::int64_t golden_tick_ms = 250;                 // between two events of the journal

fs::path checked_in_dir() { return fs::path(DAIRECTOR_TESTS_DIR) / "journal" / "golden"; }

/// a → {b, c} → d, where b fails once and is started again.
history diamond_story(std::string id) {
  history h(must_parse(R"({"name": "diamond", "stages": [
    {"name": "a", "run": {"builtin": "echo"}},
    {"name": "b", "after": ["a"], "run": {"builtin": "fail", "times": 1}},
    {"name": "c", "after": ["a"], "run": {"builtin": "echo"}},
    {"name": "d", "after": ["b", "c"], "run": {"builtin": "echo"}}]})"),
            std::move(id));
  h.start("a");
  h.complete("a", json{{"n", 1}});
  h.start("b");
  h.start("c");
  h.fail("b", "failed on purpose (builtin fail: attempt 1 of the first 1)");
  h.complete("c", json{{"list", json::array({1, 2.5, "three", nullptr, true})}});
  h.start("b");
  h.complete("b");
  h.start("d");
  h.complete("d", json::object());
  BOOST_REQUIRE_EQUAL(outcome(h.state()), pipeline_outcome::done);
  return h;
}

/// The journal's order: pieces of each pipeline in turn, every event stamped
/// by the fixed clock.
std::vector<event> journal_order(const history& one, const history& two) {
  std::vector<event> out;
  std::size_t next_one = 0, next_two = 0;
  auto take = [&](const history& h, std::size_t& next, std::size_t count) {
    for (; count > 0 && next < h.events().size(); --count) out.push_back(h.events()[next++]);
  };
  for (std::size_t round = 0; next_one < one.events().size() || next_two < two.events().size(); ++round) {
    take(one, next_one, 3 + round % 4);
    take(two, next_two, 1 + round % 3);
  }
  for (std::size_t k = 0; k < out.size(); ++k)
    out[k].at_ms = golden_epoch_ms + static_cast<std::int64_t>(k) * golden_tick_ms;
  return out;
}

/// Writes the golden journal and its expected history into `dir`.
void write_golden(const fs::path& dir) {
  const fs::path db = dir / (std::string(golden_name) + ".db");
  const fs::path jsonl = dir / (std::string(golden_name) + ".jsonl");
  BOOST_REQUIRE_MESSAGE(!fs::exists(db) && !fs::exists(jsonl),
                        "a golden journal is frozen once written: " << db << " or " << jsonl << " exists");
  fs::create_directories(dir);
  const history one = every_type_history("golden-1");
  const history two = diamond_story("golden-2");
  const std::vector<event> order = journal_order(one, two);

  // Each event is applied to its pipeline's state (rollbacks resolved against
  // the states so far) before it is appended; batches of 1 to 4 events.
  std::map<std::string, std::vector<system_state>> states;
  std::map<std::string, std::vector<event>> expected;
  {
    auto j = must_open(db.string(), format_1());
    std::vector<event> batch;
    std::size_t batch_size = 1;
    for (const event& e : order) {
      std::vector<system_state>& mine = states[e.pipeline];
      if (mine.empty()) mine.emplace_back();
      event resolved = e;
      if (e.type == event_type::rolled_back) {
        BOOST_REQUIRE_LT(e.to, mine.size());
        resolved.target = std::make_shared<const system_state>(mine[e.to]);
      }
      auto next = apply(mine.back(), resolved);
      BOOST_REQUIRE_MESSAGE(next.ok(), e.pipeline << " seq " << e.seq << ": " << describe(next));
      require_sound(*next, e.pipeline + " seq " + std::to_string(e.seq));
      mine.push_back(std::move(*next));
      expected[e.pipeline].push_back(e);
      batch.push_back(e);
      if (batch.size() == batch_size) {
        must_append(*j, batch);
        batch.clear();
        batch_size = batch_size % 4 + 1;
      }
    }
    if (!batch.empty()) must_append(*j, batch);
  }  // closed: the last connection checkpoints the WAL into the file and removes it
  fs::remove(db.string() + ".lock");
  BOOST_REQUIRE(!fs::exists(db.string() + "-wal") && !fs::exists(db.string() + "-shm"));

  std::string lines;
  for (const std::string id : {"golden-1", "golden-2"}) {
    const std::vector<event>& events = expected.at(id);
    for (const event& e : events) lines += encode_event_text(e, events.front().spec.get()) + "\n";
  }
  write_bytes(jsonl.string(), lines);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from < text.size()) {
    std::size_t end = text.find('\n', from);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(from, end - from));
    from = end + 1;
  }
  return out;
}

/// Reads the golden journal in `dir` as a reader would and compares it with
/// the expected history, then replays it.
void check_golden(const fs::path& dir) {
  const fs::path db = dir / (std::string(golden_name) + ".db");
  const std::vector<std::string> want = lines_of(read_bytes((dir / (std::string(golden_name) + ".jsonl")).string()));
  // The checked-in file is complete by itself: no WAL beside it.
  BOOST_REQUIRE_MESSAGE(fs::exists(db), db << " is missing");
  BOOST_REQUIRE(!fs::exists(db.string() + "-wal") && !fs::exists(db.string() + "-shm"));

  // A copy: opening a WAL journal, even read-only, creates its -shm beside it.
  scratch_dir scratch;
  const std::string copy = scratch.file("golden.db");
  fs::copy_file(db, copy);
  auto j = must_open(copy, read_only());
  auto listed = j->pipelines();
  BOOST_REQUIRE_MESSAGE(listed.ok(), describe(listed));
  BOOST_REQUIRE_EQUAL(listed->size(), 2u);
  BOOST_CHECK_EQUAL((*listed)[0].id, "golden-1");
  BOOST_CHECK_EQUAL((*listed)[1].id, "golden-2");

  std::vector<std::string> got;
  std::vector<event> every;
  std::map<std::string, system_state> finals;
  for (const pipeline_summary& p : *listed) {
    const std::vector<event> events = must_read(*j, p.id);
    BOOST_CHECK_EQUAL(events.size(), p.seq);
    for (const event& e : events) {
      got.push_back(encode_event_text(e, events.front().spec.get()));
      every.push_back(e);
    }
    for (std::uint64_t seq = 0; seq <= events.size(); ++seq) {
      auto state = replay(events, seq);
      BOOST_REQUIRE_MESSAGE(state.ok(), p.id << " to seq " << seq << ": " << describe(state));
      require_sound(*state, p.id + " seq " + std::to_string(seq));
    }
    finals.emplace(p.id, *replay(events));
  }
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k)
    BOOST_CHECK_MESSAGE(got[k] == want[k], "line " << k + 1 << " differs\nread:     " << got[k]
                                                    << "\nexpected: " << want[k]);
  // The types there were when v1-example was written; later ones are in
  // every_type_history (codec_text, store), a golden journal is never rewritten.
  check_every_type(every, static_cast<int>(event_type::rerun_requested) + 1);
  BOOST_CHECK_EQUAL(outcome(finals.at("golden-1")), pipeline_outcome::cancelled);
  BOOST_CHECK_EQUAL(outcome(finals.at("golden-2")), pipeline_outcome::done);

  // The frozen parts of format 1 that the store's reader takes on trust.
  raw_db raw(copy);
  BOOST_CHECK_EQUAL(raw.integer("PRAGMA application_id"), 0x44414952);  // "DAIR"
  BOOST_CHECK_EQUAL(raw.integer("PRAGMA user_version"), 1);
  BOOST_CHECK_EQUAL(raw.text("SELECT value FROM meta WHERE key = 'format_version'"), "1");
  BOOST_CHECK_EQUAL(raw.integer("SELECT count(*) FROM events"), static_cast<std::int64_t>(want.size()));
  BOOST_CHECK_EQUAL(raw.integer("SELECT max(pos) - min(pos) + 1 FROM events"), static_cast<std::int64_t>(want.size()));
  // Every row's crc is CRC-32 over its columns, as the header documents.
  const std::int64_t rows = raw.integer("SELECT count(*) FROM events");
  for (std::int64_t pos = 1; pos <= rows; ++pos) {
    const std::string where = " FROM events WHERE pos = " + std::to_string(pos);
    const std::uint32_t crc = row_crc_v1(raw.text("SELECT pipeline" + where),
                                         static_cast<std::uint64_t>(raw.integer("SELECT seq" + where)),
                                         raw.text("SELECT type" + where), raw.integer("SELECT at_ms" + where),
                                         raw.text("SELECT by" + where), raw.text("SELECT body" + where));
    BOOST_CHECK_MESSAGE(static_cast<std::int64_t>(crc) == raw.integer("SELECT crc" + where),
                        "row pos " << pos << ": crc is not CRC-32 over its columns");
  }
}

boost::test_tools::assertion_result writing_golden(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(std::getenv("DAIRECTOR_WRITE_GOLDEN") != nullptr);
  r.message() << "DAIRECTOR_WRITE_GOLDEN is not set";
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(golden)

BOOST_AUTO_TEST_CASE(v1_example_reads_as_written_and_replays) { check_golden(checked_in_dir()); }

// Skipped unless DAIRECTOR_WRITE_GOLDEN names a directory to write into.
BOOST_AUTO_TEST_CASE(write_a_golden_journal, *boost::unit_test::precondition(writing_golden)) {
  const fs::path dir = std::getenv("DAIRECTOR_WRITE_GOLDEN");
  write_golden(dir);
  check_golden(dir);
}

BOOST_AUTO_TEST_SUITE_END()
