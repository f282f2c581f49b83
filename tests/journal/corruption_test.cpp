// A damaged journal is never applied and never crashes the reader
// (docs/design.md#the-journal; the model is LevelDB's log_reader): a row changed
// in the middle is corruption, named by its seq; an event the reducer refuses
// is corruption found by replay; a torn tail of the WAL is the writer dying
// mid-commit, so the journal reads as the transactions before it, without an
// error; garbage over a page of the file is an error, never a crash.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "journal/journal_fixtures.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// A journal holding every_type_history() as "p-1" and a finished line as
/// "p-2", closed (so its WAL is checkpointed into the file).
struct two_pipelines {
  history p1 = every_type_history("p-1");
  history p2{line_spec(), "p-2"};

  explicit two_pipelines(const std::string& path, journal_options opt = {}) {
    run_to_end(p2);
    auto j = must_open(path, opt);
    must_append(*j, p1.events());
    must_append(*j, p2.events());
  }
};

/// Sets the `crc` column of a row to the checksum of its (changed) columns,
/// as a writer that computed it over wrong data would have.
void recompute_crc(raw_db& db, const std::string& pipeline, std::uint64_t seq) {
  const std::string where = " FROM events WHERE pipeline = " + sql_quoted(pipeline) + " AND seq = " + std::to_string(seq);
  const std::uint32_t crc =
      row_crc_v1(pipeline, seq, db.text("SELECT type" + where), db.integer("SELECT at_ms" + where),
                 db.text("SELECT by" + where), db.text("SELECT body" + where));
  db.exec("UPDATE events SET crc = " + std::to_string(crc) + where.substr(std::string(" FROM events").size()));
}

/// Reads everything a reader can; returns the first error (errc::journal
/// expected) or nullopt when every read succeeded and `check` found nothing.
std::optional<error> read_everything(const std::string& path) {
  auto j = open_journal(path, read_only());
  if (!j) return j.err();
  auto listed = (*j)->pipelines();
  if (!listed) return listed.err();
  for (const pipeline_summary& p : *listed) {
    auto h = (*j)->history(p.id);
    if (!h) return h.err();
    auto state = replay(*h);
    if (!state) return state.err();
  }
  auto damage = (*j)->check();
  if (!damage) return damage.err();
  if (!damage->empty()) return make_error(errc::journal, damage->front().reason);
  return std::nullopt;
}

/// `n` pipelines of line_spec() (p-1 ... p-N), written side by side: `run`
/// events of each in turn, so that a page holds rows of one to a few.
std::vector<history> side_by_side(const std::string& path, int n, int context_changes, std::size_t run,
                                  journal_options opt = {}) {
  std::vector<history> all;
  for (int k = 1; k <= n; ++k) all.emplace_back(line_spec(), "p-" + std::to_string(k));
  for (history& h : all)
    for (int c = 0; c < context_changes; ++c)
      h.change_context("a", json{{"c", c}, {"filler", std::string(300, static_cast<char>('a' + c % 26))}});
  auto j = must_open(path, opt);
  const std::size_t events = all.front().events().size();
  for (std::size_t from = 0; from < events; from += run)
    for (const history& h : all)
      must_append(*j, std::span<const event>(h.events()).subspan(from, std::min(run, events - from)));
  return all;
}

/// The size of one WAL frame: a 24-byte header and a page (the page size is
/// big-endian at offset 8 of the WAL's 32-byte header).
std::size_t wal_frame_bytes(const std::string& wal) {
  const std::string bytes = read_bytes(wal);
  BOOST_REQUIRE_GE(bytes.size(), 32u);
  std::size_t page = 0;
  for (int k = 8; k < 12; ++k) page = page << 8 | static_cast<unsigned char>(bytes[static_cast<std::size_t>(k)]);
  return 24 + page;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(corruption)

BOOST_AUTO_TEST_CASE(a_row_changed_in_the_middle_is_refused_naming_its_seq) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const two_pipelines journal(path);
  const std::uint64_t middle = 3;  // draft's output: {"text":"v1",…}
  const std::string where = " WHERE pipeline = 'p-1' AND seq = " + std::to_string(middle);
  // A plausible lie: the body still decodes and the event would still apply.
  raw_db(path).exec("UPDATE events SET body = replace(body, '\"v1\"', '\"v9\"')" + where);
  BOOST_REQUIRE(contains(raw_db(path).text("SELECT body FROM events" + where), "\"v9\""));

  auto j = must_open(path, read_only());
  const std::string why = journal_refusal(j->history("p-1"));
  JOURNAL_CHECK_CONTAINS(why, "seq " + std::to_string(middle));
  JOURNAL_CHECK_CONTAINS(why, "checksum");
  JOURNAL_CHECK_CONTAINS(why, "'p-1'");
  // The damage is that pipeline's; the other one reads.
  check_same_events(must_read(*j, "p-2"), journal.p2.events());
  // The writer's view is the same.
  auto writer = must_open(path);
  JOURNAL_CHECK_CONTAINS(journal_refusal(writer->history("p-1")), "checksum");
}

BOOST_AUTO_TEST_CASE(the_checksum_covers_every_column_it_names) {
  // Each column the crc covers, changed in a copy of the journal.
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"by", "by = 'user:mallory'"},
      {"at_ms", "at_ms = at_ms + 1"},
      {"type", "type = 'stage_failed'"},
      {"crc", "crc = (crc + 1) % 4294967296"},
      {"body", "body = body || ' '"},  // still the same JSON
  };
  for (const auto& [column, change] : changes) {
    BOOST_TEST_CONTEXT("column " << column) {
      scratch_dir dir;
      const std::string path = dir.file("j.db");
      const two_pipelines journal(path);
      raw_db(path).exec("UPDATE events SET " + change + " WHERE pipeline = 'p-1' AND seq = 10");
      auto j = must_open(path, read_only());
      const std::string why = journal_refusal(j->history("p-1"));
      JOURNAL_CHECK_CONTAINS(why, "event seq 10: checksum mismatch");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_row_nested_too_deep_is_damage_named_by_its_seq_not_a_crash) {
  // An output nested 70,000 deep (what the old code let a command record)
  // and one just past the bound of a value, each with a checksum that
  // matches, so that only the depth is wrong: refused by pipeline and seq
  // before anything recursive runs; the other pipeline still reads.
  const std::uint64_t seq = 3;  // draft's output: {"text":"v1",…}
  for (const auto& [depth, reason] : std::vector<std::pair<std::size_t, std::string>>{
           {70'000, "an event nests deeper than 256 arrays and objects"},
           {json_value_depth_max + 1, "\"output\" nests deeper than 248 arrays and objects"}}) {
    BOOST_TEST_CONTEXT("an output nested " << depth << " deep") {
      scratch_dir dir;
      const std::string path = dir.file("j.db");
      const two_pipelines journal(path);
      const std::string where = " WHERE pipeline = 'p-1' AND seq = " + std::to_string(seq);
      {
        raw_db db(path);
        std::string body = db.text("SELECT body FROM events" + where);
        const std::string output = json::parse(body)["output"].dump();
        const std::size_t at = body.find("\"output\":" + output);
        BOOST_REQUIRE(at != std::string::npos);
        body.replace(at + 9, output.size(), std::string(depth, '[') + std::string(depth, ']'));
        db.exec("UPDATE events SET body = " + sql_quoted(body) + where);
        recompute_crc(db, "p-1", seq);
      }
      auto j = must_open(path, read_only());
      const std::string why = journal_refusal(j->history("p-1"));
      JOURNAL_CHECK_CONTAINS(why, "pipeline 'p-1', event seq " + std::to_string(seq) + ": ");
      JOURNAL_CHECK_CONTAINS(why, reason);
      check_same_events(must_read(*j, "p-2"), journal.p2.events());
      JOURNAL_CHECK_CONTAINS(journal_refusal(must_open(path)->history("p-1")), reason);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_row_missing_from_the_middle_is_a_gap) {  // format 1: seen by seq
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const two_pipelines journal(path, format_1());
  raw_db(path).exec("DELETE FROM events WHERE pipeline = 'p-1' AND seq = 7");
  auto j = must_open(path, read_only());
  const std::string why = journal_refusal(j->history("p-1"));
  JOURNAL_CHECK_CONTAINS(why, "event seq 8: expected seq 7");
  JOURNAL_CHECK_CONTAINS(why, "gap");
}

BOOST_AUTO_TEST_CASE(a_row_whose_columns_disagree_with_its_body_is_refused) {
  // The checksum was computed over the wrong columns (a writer bug, or a
  // forger who knows CRC-32): the columns must still agree with the body.
  for (const std::string column : {"by", "type"}) {
    BOOST_TEST_CONTEXT("column " << column) {
      scratch_dir dir;
      const std::string path = dir.file("j.db");
      const two_pipelines journal(path);
      {
        raw_db db(path);
        db.exec("UPDATE events SET " + column + (column == "by" ? " = 'user:mallory'" : " = 'stage_failed'") +
                " WHERE pipeline = 'p-1' AND seq = 10");
        recompute_crc(db, "p-1", 10);
      }
      auto j = must_open(path, read_only());
      const std::string why = journal_refusal(j->history("p-1"));
      JOURNAL_CHECK_CONTAINS(why, "event seq 10: the row's columns disagree with its body");
    }
  }
}

// A known defect: journal_store::history compares seq, pipeline, type and by
// with the body, but not at_ms, so this row is returned with the body's time
// while its column (what a query by time would use) says another.
BOOST_AUTO_TEST_CASE(a_row_whose_time_disagrees_with_its_body_is_refused) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const two_pipelines journal(path);
  {
    raw_db db(path);
    db.exec("UPDATE events SET at_ms = at_ms + 3600000 WHERE pipeline = 'p-1' AND seq = 10");
    recompute_crc(db, "p-1", 10);
  }
  auto j = must_open(path, read_only());
  JOURNAL_CHECK_CONTAINS(journal_refusal(j->history("p-1")), "event seq 10: the row's columns disagree");
}

// A known defect: the crc covers a row, not the index that history() and
// pipelines() search. One byte changed in the index (its last entry, "p-2"
// seq 9, made "p-3" seq 9, which keeps the index in order) hides p-2's last
// event: its history reads as 8 events without an error and replays, and
// `PRAGMA quick_check` finds nothing (`integrity_check` does). A writer
// opening it would take seq 8 as durable and write a second seq 9.
BOOST_AUTO_TEST_CASE(a_damaged_index_cannot_hide_the_end_of_a_history) {  // format 1: it has the index
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const two_pipelines journal(path, format_1());
  BOOST_REQUIRE_EQUAL(journal.p2.seq(), 9u);
  std::size_t page = 0, root = 0;
  {
    raw_db db(path);
    page = static_cast<std::size_t>(db.integer("PRAGMA page_size"));
    root = static_cast<std::size_t>(
        db.integer("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_events_1'"));
    // One page: its entries are all in the root.
    BOOST_REQUIRE_EQUAL(db.integer("SELECT count(*) FROM events"), 44);
  }
  std::string bytes = read_bytes(path);
  // An index entry is a record (pipeline, seq, pos): "p-2", then seq 9 as a one-byte integer.
  const std::size_t at = bytes.find(std::string("p-2\x09", 4), (root - 1) * page);
  BOOST_REQUIRE(at != std::string::npos && at < root * page);
  bytes[at + 2] = '3';
  write_bytes(path, bytes);

  auto j = must_open(path, read_only());
  auto h = j->history("p-2");
  const std::size_t read = h.ok() ? h->size() : 0;
  BOOST_CHECK_MESSAGE(!h.ok() || read == 9u, "p-2's history reads as " << read << " events, without an error");
  if (!h.ok()) BOOST_CHECK_EQUAL(h.err().code, errc::journal);
}

BOOST_AUTO_TEST_CASE(an_event_the_reducer_refuses_is_found_by_replay) {
  // append checks only that seq follows on; legality is the reducer's
  // question, so the row is stored with a sound checksum and reads back.
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  history h(line_spec());
  h.start("a");  // seq 2
  const event never_started = h.completed_event("c", 2);  // seq 3: c never started
  {
    auto j = must_open(path);
    must_append(*j, h.events());
    must_append(*j, never_started);
  }
  auto j = must_open(path, read_only());
  const std::vector<event> read = must_read(*j, "p-1");
  BOOST_REQUIRE_EQUAL(read.size(), 3u);
  BOOST_CHECK(same_event(read.back(), never_started));
  const std::string why = journal_refusal(replay(read));
  JOURNAL_CHECK_CONTAINS(why, "event seq 3 (stage_completed)");
  JOURNAL_CHECK_CONTAINS(why, "'c'");
  auto before = replay(read, 2);
  BOOST_REQUIRE_MESSAGE(before.ok(), describe(before));
  BOOST_CHECK(same_facts(*before, h.state()));
}

// A pipeline's deleted last event leaves no seq gap in its own history: only
// the journal-wide order shows it. The format cannot say whose row it was, so
// every pipeline whose history ends before the gap is suspect (with one
// pipeline per journal, exactly the right one), and none is replayed as if
// whole or written to; a pipeline with rows after the gap would show a seq
// gap of its own, so it stays trusted.
BOOST_AUTO_TEST_CASE(a_deleted_last_event_is_a_gap_in_the_journal_wide_order) {  // format 1
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  history early(line_spec(), "early");
  run_to_end(early);  // 9 events at pos 1-9: ends before the gap
  history victim(line_spec(), "victim"), later(line_spec(), "later");
  victim.start("a");
  victim.complete("a");  // seq 3: the row deleted below
  run_to_end(later);
  {
    auto j = must_open(path, format_1());
    must_append(*j, early.events());
    for (std::size_t k = 0; k < 3; ++k) {  // side by side: victim seq k, later seq k
      must_append(*j, victim.events()[k]);
      must_append(*j, later.events()[k]);
    }
    must_append(*j, std::span<const event>(later.events()).subspan(3));
  }
  const std::int64_t gone = raw_db(path).integer("SELECT pos FROM events WHERE pipeline = 'victim' AND seq = 3");
  BOOST_REQUIRE_EQUAL(gone, 14);
  raw_db(path).exec("DELETE FROM events WHERE pipeline = 'victim' AND seq = 3");

  auto j = must_open(path, read_only());
  // Its own rows are gapless (seq 1, 2): only pos 14 is missing.
  for (const std::string who : {"victim", "early"}) {
    BOOST_TEST_CONTEXT(who) {
      const std::string why = journal_refusal(j->history(who));
      JOURNAL_CHECK_CONTAINS(why, "pipeline '" + who + "'");
      JOURNAL_CHECK_CONTAINS(why, "the event at pos 14 is missing");
      JOURNAL_CHECK_CONTAINS(why, "may be cut short");
    }
  }
  journal_damage d;
  BOOST_CHECK(!j->history("victim", &d).ok());
  BOOST_CHECK_EQUAL(d.pipeline, "victim");
  BOOST_CHECK_EQUAL(d.seq, 3u);  // the first event it may have lost
  BOOST_CHECK_EQUAL(d.pos_from, 14u);
  BOOST_CHECK_EQUAL(d.pos_to, 14u);
  check_same_events(must_read(*j, "later"), later.events());  // rows after the gap: it would show a seq gap

  auto all = j->check();
  BOOST_REQUIRE_MESSAGE(all.ok(), describe(all));
  BOOST_REQUIRE_EQUAL(all->size(), 3u);  // the gap, then early and victim in order of creation
  BOOST_CHECK((*all)[0].pipeline.empty() && (*all)[0].pos_from == 14u && (*all)[0].pos_to == 14u);
  JOURNAL_CHECK_CONTAINS((*all)[0].reason, "2 pipelines whose history ends just before it");
  BOOST_CHECK_EQUAL((*all)[1].pipeline, "early");
  BOOST_CHECK_EQUAL((*all)[1].seq, 10u);
  BOOST_CHECK_EQUAL((*all)[2].pipeline, "victim");

  // A writer neither replays nor extends a history that may be cut short.
  auto writer = must_open(path);
  JOURNAL_CHECK_CONTAINS(journal_refusal(writer->replayed("victim")), "pos 14");
  event next = victim.events().back();
  next.seq = 3;  // what a writer that trusted the history would write next
  JOURNAL_CHECK_CONTAINS(journal_refusal(writer->append(std::span<const event>(&next, 1))), "takes no more events");
}

BOOST_AUTO_TEST_CASE(the_journal_wide_order_starts_at_one) {  // format 1
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  history a(line_spec(), "a"), b(line_spec(), "b");
  {
    auto j = must_open(path, format_1());
    must_append(*j, a.events());
    must_append(*j, b.events());
  }
  raw_db(path).exec("DELETE FROM events WHERE pos = 1");  // a's creation
  auto j = must_open(path, read_only());
  auto gaps = j->gaps();
  BOOST_REQUIRE_MESSAGE(gaps.ok(), describe(gaps));
  BOOST_REQUIRE_EQUAL(gaps->size(), 1u);
  BOOST_CHECK_EQUAL(gaps->front().pos_from, 1u);
  JOURNAL_CHECK_CONTAINS(gaps->front().reason, "no pipeline's history ends just before it");
  BOOST_CHECK(j->history("b").ok());
}

namespace {

// Page-level damage says what it can: the pipelines on the damaged page are
// named (format 1: from the index when the table cannot be read there;
// format 2: by the chains that cross it), each with the seq and pos of its
// row there when one is given (which is indeed its row), every pipeline with
// a row in an unreadable stretch is named, every other pipeline reads
// exactly as written, and nothing is lost silently. Each page of the events
// table, its index (format 1) and the heads (format 2) in turn.
void garbage_over_each_page_names_the_pipelines_it_hides(journal_options opt) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const std::vector<history> written = side_by_side(path, 8, 30, 5, opt);  // 8 x 32 events, 5 at a time
  std::map<std::uint64_t, std::string> owner;  // pos -> pipeline, as written
  for (const history& h : written)
    for (std::uint64_t seq = 1; seq <= h.seq(); ++seq)
      owner[static_cast<std::uint64_t>(raw_db(path).integer("SELECT pos FROM events WHERE pipeline = " +
                                                            sql_quoted(h.id()) + " AND seq = " + std::to_string(seq)))] =
          h.id();
  const std::string pristine = read_bytes(path);
  const std::size_t page = static_cast<std::size_t>(raw_db(path).integer("PRAGMA page_size"));
  const std::size_t pages = pristine.size() / page;
  const auto first = static_cast<std::size_t>(
      raw_db(path).integer("SELECT min(rootpage) FROM sqlite_master WHERE tbl_name IN ('events', 'heads')"));
  BOOST_REQUIRE_GE(pages, 30u);
  std::uint64_t x = 0x2545F4914F6CDD1Dull;  // a fixed xorshift: the same garbage every run
  std::size_t stretches = 0, named_total = 0;
  for (std::size_t p = first; p <= pages; ++p) {
    BOOST_TEST_CONTEXT("garbage over page " << p << " of " << pages) {
      scratch_dir copy;
      std::string damaged = pristine;
      for (std::size_t k = 0; k < page; ++k) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        damaged[(p - 1) * page + k] = static_cast<char>(x & 0xFF);
      }
      write_bytes(copy.file("j.db"), damaged);
      auto j = must_open(copy.file("j.db"), read_only());
      auto listed = j->pipelines();
      BOOST_REQUIRE_MESSAGE(listed.ok(), "the readable part is not listed: " << describe(listed));
      auto report = j->check();
      BOOST_REQUIRE_MESSAGE(report.ok(), describe(report));
      BOOST_REQUIRE_MESSAGE(!report->empty(), "the damage went unnoticed");
      std::set<std::string> named;
      for (const journal_damage& d : *report) {
        if (!d.pipeline.empty()) {
          named.insert(d.pipeline);
          if (d.pos_from > 0)  // a row the index places on the damaged page: its own
            BOOST_CHECK_MESSAGE(owner[d.pos_from] == d.pipeline,
                                d.pipeline << " named for pos " << d.pos_from << ", " << owner[d.pos_from] << "'s");
        }
      }
      for (const journal_damage& d : *report) {
        if (!d.pipeline.empty() || d.reason.find("unreadable") == std::string::npos) continue;
        ++stretches;
        for (auto it = owner.lower_bound(d.pos_from); it != owner.end() && (d.pos_to == 0 || it->first <= d.pos_to);
             ++it)
          BOOST_CHECK_MESSAGE(named.count(it->second), it->second << " had pos " << it->first << " in the unreadable "
                                                                  << d.pos_from << ".." << d.pos_to << ", not named");
      }
      BOOST_CHECK_MESSAGE(!named.empty(), "no pipeline named; the report: " << report->front().reason);
      named_total += named.size();
      for (const history& h : written) {
        if (named.count(h.id())) continue;
        auto read = j->history(h.id());
        BOOST_REQUIRE_MESSAGE(read.ok(), h.id() << " is not named, yet does not read: " << describe(read));
        check_same_events(*read, h.events());
      }
    }
  }
  BOOST_TEST_MESSAGE(pages - first + 1 << " pages damaged in turn (" << stretches << " unreadable stretches of the table); "
                                      << named_total << " pipelines named in all, of " << 8 * (pages - first + 1));
  BOOST_CHECK_LT(named_total, 8 * (pages - first + 1));  // the damage is pinned down, not spread over everyone
}

}  // namespace

BOOST_AUTO_TEST_CASE(garbage_over_a_page_names_the_pipelines_it_hides) {
  garbage_over_each_page_names_the_pipelines_it_hides(format_1());
}

BOOST_AUTO_TEST_CASE(garbage_over_a_page_names_the_pipelines_it_hides_format_2) {
  garbage_over_each_page_names_the_pipelines_it_hides({});
}

BOOST_AUTO_TEST_CASE(a_torn_wal_tail_is_the_writer_dying_not_corruption) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  history h(line_spec());
  run_to_end(h);  // 9 events
  // Transactions of 1, 2, 2, 2 and 2 events; the last is seq 8 and 9.
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> commits = {{1, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}};
  auto writer = must_open(path);  // kept open: nothing is checkpointed
  for (const auto& [from, to] : commits)
    must_append(*writer, std::vector<event>(h.events().begin() + static_cast<std::ptrdiff_t>(from - 1),
                                            h.events().begin() + static_cast<std::ptrdiff_t>(to)));
  const std::string wal = read_bytes(path + "-wal");
  const std::string db = read_bytes(path);
  const std::size_t frame = wal_frame_bytes(path + "-wal");
  BOOST_REQUIRE_GT(wal.size(), 32 + 5 * frame);  // every commit is still in the WAL
  BOOST_TEST_MESSAGE("WAL of " << wal.size() << " bytes, frames of " << frame);

  // Cut 0 is the crash right after the last commit; the others tear its
  // last (commit) frame: inside the page, inside the frame header, all of it.
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{24},
                          std::size_t{50}, std::size_t{100}, frame / 2, frame - 24, frame - 23, frame}) {
    BOOST_TEST_CONTEXT("the WAL cut by " << cut << " bytes") {
      scratch_dir copy;
      write_bytes(copy.file("j.db"), db);
      write_bytes(copy.file("j.db-wal"), std::string_view(wal).substr(0, wal.size() - cut));
      auto j = open_journal(copy.file("j.db"), read_only());
      BOOST_REQUIRE_MESSAGE(j.ok(), describe(j));
      auto read = (*j)->history("p-1");
      BOOST_REQUIRE_MESSAGE(read.ok(), describe(read));
      // All of it, or all but the torn last transaction: never less, never a part of it.
      const std::size_t want = cut == 0 ? 9 : 7;
      BOOST_CHECK_EQUAL(read->size(), want);
      check_same_events(*read, std::span<const event>(h.events()).first(std::min(want, read->size())));
      BOOST_CHECK((*j)->pipelines()->front().seq == want);
      auto state = replay(*read);
      BOOST_CHECK_MESSAGE(state.ok(), describe(state));
    }
  }

  // The next owner of a torn journal recovers the prefix and carries on.
  scratch_dir copy;
  write_bytes(copy.file("j.db"), db);
  write_bytes(copy.file("j.db-wal"), std::string_view(wal).substr(0, wal.size() - frame / 2));
  auto next = must_open(copy.file("j.db"));
  check_same_events(must_read(*next, "p-1"), std::span<const event>(h.events()).first(7));
  must_append(*next, std::span<const event>(h.events()).subspan(7));
  check_same_events(must_read(*next, "p-1"), h.events());
}

BOOST_AUTO_TEST_CASE(garbage_over_a_page_is_an_error_never_a_crash) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  history h(line_spec());
  // About 150 KiB of events: many table and index pages.
  for (int k = 0; k < 200; ++k)
    h.change_context("a", json{{"k", k}, {"filler", std::string(600, static_cast<char>('a' + k % 26))}});
  {
    auto j = must_open(path);
    must_append(*j, h.events());
  }  // closed: the WAL is checkpointed into the file and removed
  BOOST_REQUIRE(!std::filesystem::exists(path + "-wal"));
  const std::string pristine = read_bytes(path);
  const std::size_t page = static_cast<std::size_t>(raw_db(path).integer("PRAGMA page_size"));
  const std::size_t pages = pristine.size() / page;
  BOOST_REQUIRE_GE(pages, 20u);
  BOOST_REQUIRE(!read_everything(path).has_value());

  // Garbage from a fixed xorshift, so every run damages the same bytes.
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  auto garbage = [&] {
    std::string bytes(page, '\0');
    for (char& c : bytes) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x & 0xFF);
    }
    return bytes;
  };
  // Page 1 is the header and the schema; the meta table's pages come next
  // (the store never reads them: the format version is in the header). Every
  // page from the events table's root on holds events or their index.
  const auto first = static_cast<std::size_t>(
      raw_db(path).integer("SELECT min(rootpage) FROM sqlite_master WHERE tbl_name IN ('events', 'heads')"));
  BOOST_REQUIRE_GT(first, 1u);
  for (std::size_t p = first; p <= pages; ++p) {
    BOOST_TEST_CONTEXT("garbage over page " << p << " of " << pages) {
      scratch_dir copy;
      std::string damaged = pristine;
      damaged.replace((p - 1) * page, page, garbage());
      write_bytes(copy.file("j.db"), damaged);
      const auto err = read_everything(copy.file("j.db"));
      BOOST_REQUIRE_MESSAGE(err.has_value(), "the damage went unnoticed");
      BOOST_CHECK_EQUAL(err->code, errc::journal);
      BOOST_CHECK(!err->message.empty());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
