// SQLite's format 2 (journal/include/dairector/journal/sqlite.hpp): each
// pipeline's events are a chain read back from its head, so damage is named
// by the pipeline, seq and pos it hit and makes no other pipeline suspect;
// and `upgrade_sqlite_journal` moves a format 1 journal on whole (rows, CRCs
// and positions as they were) or not at all.
#include <filesystem>
#include <string>
#include <vector>

#include "journal/journal_fixtures.hpp"

using namespace dairector;
using namespace dairector::test;
namespace fs = std::filesystem;

namespace {

/// "early" (9 events, pos 1-9), then "victim" and "later" side by side; the
/// victim stops at seq 3 (pos 14), "later" runs to its end.
struct three_pipelines {
  history early{line_spec(), "early"}, victim{line_spec(), "victim"}, later{line_spec(), "later"};

  three_pipelines(const std::string& path, journal_options opt) {
    run_to_end(early);
    victim.start("a");
    victim.complete("a");
    run_to_end(later);
    auto j = must_open(path, opt);
    must_append(*j, early.events());
    for (std::size_t k = 0; k < 3; ++k) {
      must_append(*j, victim.events()[k]);
      must_append(*j, later.events()[k]);
    }
    must_append(*j, std::span<const event>(later.events()).subspan(3));
  }
};

/// head_crc as sqlite.hpp documents it, computed here independently.
std::uint32_t head_crc(const std::string& pipeline, std::int64_t first_pos, std::int64_t last_pos,
                       std::uint64_t last_seq) {
  return row_crc_v1(pipeline, last_seq, "head", first_pos, "", std::to_string(last_pos));
}

/// Every chain and head of a format 2 file, checked with SQL of our own.
void check_chains(const std::string& path) {
  raw_db raw(path);
  BOOST_CHECK_EQUAL(raw.integer("PRAGMA user_version"), 2);
  BOOST_CHECK_EQUAL(raw.text("SELECT value FROM meta WHERE key = 'format_version'"), "2");
  // Each row links to its pipeline's previous seq, at a smaller pos.
  BOOST_CHECK_EQUAL(raw.integer("SELECT count(*) FROM events AS e WHERE e.seq > 1 AND NOT EXISTS (SELECT 1 FROM"
                                " events AS p WHERE p.pos = e.prev AND p.pipeline = e.pipeline AND p.seq = e.seq - 1"
                                " AND p.pos < e.pos)"),
                    0);
  BOOST_CHECK_EQUAL(raw.integer("SELECT count(*) FROM events WHERE seq = 1 AND prev <> 0"), 0);
  // One head per pipeline, at its first and last rows, with its checksum.
  BOOST_CHECK_EQUAL(raw.integer("SELECT count(*) FROM heads"), raw.integer("SELECT count(DISTINCT pipeline) FROM events"));
  const std::int64_t heads = raw.integer("SELECT count(*) FROM heads");
  for (std::int64_t k = 0; k < heads; ++k) {
    const std::string at = " FROM heads ORDER BY first_pos LIMIT 1 OFFSET " + std::to_string(k);
    const std::string id = raw.text("SELECT pipeline" + at);
    const std::int64_t first = raw.integer("SELECT first_pos" + at), last = raw.integer("SELECT last_pos" + at);
    const auto last_seq = static_cast<std::uint64_t>(raw.integer("SELECT last_seq" + at));
    const std::string rows = " FROM events WHERE pipeline = " + sql_quoted(id);
    BOOST_CHECK_EQUAL(first, raw.integer("SELECT pos" + rows + " AND seq = 1"));
    BOOST_CHECK_EQUAL(last, raw.integer("SELECT max(pos)" + rows));
    BOOST_CHECK_EQUAL(static_cast<std::int64_t>(last_seq), raw.integer("SELECT max(seq)" + rows));
    BOOST_CHECK_EQUAL(raw.integer("SELECT created_ms" + at), raw.integer("SELECT at_ms" + rows + " AND seq = 1"));
    BOOST_CHECK_EQUAL(raw.integer("SELECT last_ms" + at), raw.integer("SELECT max(at_ms)" + rows));
    BOOST_CHECK_EQUAL(raw.integer("SELECT crc" + at), static_cast<std::int64_t>(head_crc(id, first, last, last_seq)));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(format)

BOOST_AUTO_TEST_CASE(a_new_journal_is_format_2_and_its_chains_link_up) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, {});
  check_chains(path);
  auto j = must_open(path, read_only());
  check_same_events(must_read(*j, "early"), written.early.events());
  check_same_events(must_read(*j, "victim"), written.victim.events());
  check_same_events(must_read(*j, "later"), written.later.events());
  auto listed = j->pipelines();
  BOOST_REQUIRE_MESSAGE(listed.ok(), describe(listed));
  BOOST_REQUIRE_EQUAL(listed->size(), 3u);
  BOOST_CHECK_EQUAL((*listed)[0].id, "early");
  BOOST_CHECK_EQUAL((*listed)[1].id, "victim");
  BOOST_CHECK_EQUAL((*listed)[1].seq, 3u);
  BOOST_CHECK_EQUAL((*listed)[2].id, "later");
  auto damage = j->check();
  BOOST_REQUIRE_MESSAGE(damage.ok() && damage->empty(), describe(damage));
}

BOOST_AUTO_TEST_CASE(a_format_1_journal_stays_format_1_when_written_to) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  history h(line_spec());
  run_to_end(h);
  must_append(*must_open(path, format_1()), std::span<const event>(h.events()).first(4));
  must_append(*must_open(path), std::span<const event>(h.events()).subspan(4));  // a default writer
  BOOST_CHECK_EQUAL(raw_db(path).integer("PRAGMA user_version"), 1);
  check_same_events(must_read(*must_open(path, read_only()), "p-1"), h.events());
}

// The deleted last event of format 1's story (corruption): here the head
// says it was there, so exactly its pipeline is damaged, at its seq and pos,
// and neither the pipeline before the gap nor the one after is suspect.
BOOST_AUTO_TEST_CASE(a_deleted_last_event_names_its_pipeline_and_nobody_else) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, {});
  BOOST_REQUIRE_EQUAL(raw_db(path).integer("SELECT pos FROM events WHERE pipeline = 'victim' AND seq = 3"), 14);
  raw_db(path).exec("DELETE FROM events WHERE pipeline = 'victim' AND seq = 3");
  auto j = must_open(path, read_only());
  journal_damage d;
  const std::string why = journal_refusal(j->history("victim", &d));
  JOURNAL_CHECK_CONTAINS(why, "pipeline 'victim', event seq 3: the event at pos 14 is missing");
  BOOST_CHECK_EQUAL(d.seq, 3u);
  BOOST_CHECK_EQUAL(d.pos_from, 14u);
  BOOST_CHECK_EQUAL(d.pos_to, 14u);
  check_same_events(must_read(*j, "early"), written.early.events());
  check_same_events(must_read(*j, "later"), written.later.events());
  auto all = j->check();
  BOOST_REQUIRE_MESSAGE(all.ok(), describe(all));
  BOOST_REQUIRE_EQUAL(all->size(), 2u);  // the gap, then the victim
  BOOST_CHECK((*all)[0].pipeline.empty() && (*all)[0].pos_from == 14u);
  BOOST_CHECK_EQUAL((*all)[1].pipeline, "victim");
  BOOST_CHECK_EQUAL((*all)[1].seq, 3u);
  // A writer neither replays nor extends it; the others carry on.
  auto writer = must_open(path);
  JOURNAL_CHECK_CONTAINS(journal_refusal(writer->replayed("victim")), "pos 14");
  event next = written.victim.events().back();
  next.seq = 3;
  JOURNAL_CHECK_CONTAINS(journal_refusal(writer->append(std::span<const event>(&next, 1))), "takes no more events");
  BOOST_CHECK(writer->replayed("early").ok());
}

// A row gone from the middle of a chain, a link that points elsewhere, a
// foreign row where a link points: each is damage at the seq it hit; the
// other pipeline reads as written.
BOOST_AUTO_TEST_CASE(a_broken_chain_is_damage_named_by_its_seq) {
  struct breakage {
    const char* what;
    const char* sql;
    std::uint64_t seq;
    const char* reason;
  };
  const std::vector<breakage> cases = {
      {"a missing row", "DELETE FROM events WHERE pipeline = 'later' AND seq = 5", 5, "is missing"},
      {"a link one short", "UPDATE events SET prev = prev - 1 WHERE pipeline = 'later' AND seq = 6", 5,
       "its chain of events is broken"},
      {"a link to another pipeline", "UPDATE events SET prev = 1 WHERE pipeline = 'later' AND seq = 6", 5,
       "its chain of events is broken"},
      {"a link forward", "UPDATE events SET prev = pos + 1 WHERE pipeline = 'later' AND seq = 6", 6,
       "its chain of events is broken"},
      {"seq 1 linked on", "UPDATE events SET prev = 3 WHERE pipeline = 'later' AND seq = 1", 1,
       "its chain of events is broken"},
  };
  for (const breakage& c : cases) {
    BOOST_TEST_CONTEXT(c.what) {
      scratch_dir dir;
      const std::string path = dir.file("j.db");
      const three_pipelines written(path, {});
      raw_db(path).exec(c.sql);
      auto j = must_open(path, read_only());
      journal_damage d;
      const std::string why = journal_refusal(j->history("later", &d));
      JOURNAL_CHECK_CONTAINS(why, "pipeline 'later', event seq " + std::to_string(c.seq) + ": ");
      JOURNAL_CHECK_CONTAINS(why, c.reason);
      BOOST_CHECK_EQUAL(d.seq, c.seq);
      check_same_events(must_read(*j, "early"), written.early.events());
      auto all = j->check();
      BOOST_REQUIRE_MESSAGE(all.ok(), describe(all));
      BOOST_CHECK(!all->empty() && all->back().pipeline == "later");
    }
  }
}

// The head is what a history and a writer start from: one that does not
// match its checksum is damage, never a shorter history or a reused seq.
BOOST_AUTO_TEST_CASE(a_head_that_does_not_match_its_checksum_is_damage) {
  for (const char* column : {"last_seq = last_seq - 1", "last_pos = last_pos - 1", "first_pos = first_pos + 100"}) {
    BOOST_TEST_CONTEXT(column) {
      scratch_dir dir;
      const std::string path = dir.file("j.db");
      const three_pipelines written(path, {});
      raw_db(path).exec(std::string("UPDATE heads SET ") + column + " WHERE pipeline = 'later'");
      auto j = must_open(path, read_only());
      JOURNAL_CHECK_CONTAINS(journal_refusal(j->history("later")), "pipeline 'later': its head");
      check_same_events(must_read(*j, "victim"), written.victim.events());
      auto writer = must_open(path);
      event next = written.later.events().back();
      next.seq += 1;
      JOURNAL_CHECK_CONTAINS(journal_refusal(writer->append(std::span<const event>(&next, 1))), "checksum");
    }
  }
}

// A head forged with a sound checksum that stops short hides the rows past
// it from a history (the price of no index); `check`, which reads every
// row, finds them. A head lost altogether is found the same way.
BOOST_AUTO_TEST_CASE(rows_past_their_head_or_without_one_are_found_by_check) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, {});
  {
    raw_db raw(path);
    const std::int64_t first = raw.integer("SELECT first_pos FROM heads WHERE pipeline = 'later'");
    const std::int64_t eighth = raw.integer("SELECT pos FROM events WHERE pipeline = 'later' AND seq = 8");
    raw.exec("UPDATE heads SET last_seq = 8, last_pos = " + std::to_string(eighth) +
             ", crc = " + std::to_string(head_crc("later", first, eighth, 8)) + " WHERE pipeline = 'later'");
    raw.exec("DELETE FROM heads WHERE pipeline = 'early'");
  }
  auto j = must_open(path, read_only());
  BOOST_CHECK_EQUAL(must_read(*j, "later").size(), 8u);
  auto all = j->check();
  BOOST_REQUIRE_MESSAGE(all.ok(), describe(all));
  BOOST_REQUIRE_EQUAL(all->size(), 2u);
  BOOST_CHECK_EQUAL((*all)[0].pipeline, "early");
  JOURNAL_CHECK_CONTAINS((*all)[0].reason, "no head");
  BOOST_CHECK_EQUAL((*all)[1].pipeline, "later");
  BOOST_CHECK_EQUAL((*all)[1].seq, 9u);
  JOURNAL_CHECK_CONTAINS((*all)[1].reason, "its table holds its events to seq 9");
}

BOOST_AUTO_TEST_CASE(archiving_removes_a_chain_and_its_head) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, {});
  auto j = must_open(path);
  auto removed = j->remove_pipelines({"victim"});
  BOOST_REQUIRE_MESSAGE(removed.ok(), describe(removed));
  BOOST_CHECK_EQUAL(*removed, 3u);
  BOOST_CHECK_EQUAL(raw_db(path).integer("SELECT count(*) FROM heads WHERE pipeline = 'victim'"), 0);
  BOOST_CHECK_EQUAL(j->history("victim").err().code, errc::not_found);
  check_same_events(must_read(*j, "later"), written.later.events());
  auto damage = j->check();
  BOOST_REQUIRE_MESSAGE(damage.ok() && damage->empty(), describe(damage));
  // A pipeline of that id can be created again, after the rest.
  history again(line_spec(), "victim");
  must_append(*j, again.events());
  check_same_events(must_read(*j, "victim"), again.events());
  check_chains(path);
}

// ------------------------------------------------------------------ upgrade

BOOST_AUTO_TEST_CASE(upgrade_keeps_every_row_and_its_position_and_links_them) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, format_1());
  auto archived = must_open(path)->remove_pipelines({"early"});  // positions 1-9 archived: kept so
  BOOST_REQUIRE(archived.ok());
  std::string rows_before;
  {
    raw_db raw(path);
    BOOST_REQUIRE_EQUAL(raw.integer("PRAGMA user_version"), 1);
    rows_before = raw.text("SELECT group_concat(pos || ' ' || pipeline || ' ' || seq || ' ' || crc, ';') FROM"
                           " (SELECT * FROM events ORDER BY pos)");
  }
  auto up = upgrade_sqlite_journal(path, {});
  BOOST_REQUIRE_MESSAGE(up.ok(), describe(up));
  BOOST_CHECK_EQUAL(up->from, 1);
  BOOST_CHECK_EQUAL(up->to, 2);
  BOOST_CHECK_EQUAL(up->pipelines, 2u);
  BOOST_CHECK_EQUAL(up->events, 3u + written.later.seq());
  check_chains(path);
  BOOST_CHECK_EQUAL(raw_db(path).text("SELECT group_concat(pos || ' ' || pipeline || ' ' || seq || ' ' || crc, ';')"
                                      " FROM (SELECT * FROM events ORDER BY pos)"),
                    rows_before);
  {
    auto j = must_open(path);
    check_same_events(must_read(*j, "victim"), written.victim.events());
    check_same_events(must_read(*j, "later"), written.later.events());
    BOOST_CHECK(j->events_after(0, 100).ok());  // the archived positions are still stepped over
    // It carries on in format 2: the next row links to the last.
    history more(line_spec(), "more");
    must_append(*j, more.events());
  }
  check_chains(path);
  // Twice is once.
  auto again = upgrade_sqlite_journal(path, {});
  BOOST_REQUIRE_MESSAGE(again.ok(), describe(again));
  BOOST_CHECK_EQUAL(again->from, 2);
  BOOST_CHECK_EQUAL(again->to, 2);
}

BOOST_AUTO_TEST_CASE(upgrade_of_the_golden_journal_reads_the_same) {
  scratch_dir dir;
  const std::string path = dir.file("golden.db");
  fs::copy_file(fs::path(DAIRECTOR_TESTS_DIR) / "journal" / "golden" / "v1-example.db", path);
  std::vector<std::vector<event>> before;
  std::vector<pipeline_summary> listed_before;
  {
    auto j = must_open(path, read_only());
    listed_before = *j->pipelines();
    for (const pipeline_summary& p : listed_before) before.push_back(must_read(*j, p.id));
  }
  auto up = upgrade_sqlite_journal(path, {});
  BOOST_REQUIRE_MESSAGE(up.ok(), describe(up));
  check_chains(path);
  auto j = must_open(path, read_only());
  auto listed = j->pipelines();
  BOOST_REQUIRE(listed.ok());
  BOOST_REQUIRE_EQUAL(listed->size(), listed_before.size());
  for (std::size_t k = 0; k < listed->size(); ++k) {
    BOOST_CHECK_EQUAL((*listed)[k].id, listed_before[k].id);
    BOOST_CHECK_EQUAL((*listed)[k].seq, listed_before[k].seq);
    BOOST_CHECK_EQUAL((*listed)[k].created_ms, listed_before[k].created_ms);
    BOOST_CHECK_EQUAL((*listed)[k].last_ms, listed_before[k].last_ms);
    check_same_events(must_read(*j, (*listed)[k].id), before[k]);
  }
}

BOOST_AUTO_TEST_CASE(upgrade_refuses_a_damaged_journal_and_changes_nothing) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, format_1());
  raw_db(path).exec("UPDATE events SET by = 'user:mallory' WHERE pipeline = 'early' AND seq = 2");
  const std::string bytes = read_bytes(path);
  const std::string why = journal_refusal(upgrade_sqlite_journal(path, {}));
  JOURNAL_CHECK_CONTAINS(why, "is damaged (1 finding");
  JOURNAL_CHECK_CONTAINS(why, "nothing was changed");
  BOOST_CHECK_EQUAL(raw_db(path).integer("PRAGMA user_version"), 1);
  BOOST_CHECK(read_bytes(path) == bytes);
}

BOOST_AUTO_TEST_CASE(upgrade_needs_the_journal_to_itself) {
  scratch_dir dir;
  const std::string path = dir.file("j.db");
  const three_pipelines written(path, format_1());
  auto owner = must_open(path);
  auto up = upgrade_sqlite_journal(path, {});
  BOOST_REQUIRE(!up.ok());
  BOOST_CHECK_EQUAL(up.err().code, errc::owned);
  owner.reset();
  BOOST_CHECK_EQUAL(upgrade_sqlite_journal(dir.file("none.db"), {}).err().code, errc::journal);
  BOOST_CHECK(!fs::exists(dir.file("none.db")));
}

BOOST_AUTO_TEST_SUITE_END()
