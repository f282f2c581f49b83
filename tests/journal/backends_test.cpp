// Every journal backend keeps the same promises (docs/design.md#the-journal):
// each story runs on SQLite (a scratch file) and on PostgreSQL (a fresh
// database on the tests' cluster, DAIRECTOR_TEST_PG; CTest always starts
// one): order, seq continuity, pipeline_created at seq 1, the checksum on
// read, the size bound, readers beside a writer, a write fault, gaps in the
// journal-wide order, many events recovered. What only a shared journal
// does (PostgreSQL: fencing, ...) is shared_journal_test.cpp.
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "journal/journal_fixtures.hpp"
#include "journal/pg_fixture.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

/// One backend, fresh for one story, with SQL of our own behind the store's back.
class backend {
public:
  explicit backend(bool pg) : pg_(pg) {
    if (pg_) {
      db_.emplace();
      raw_pg_.emplace(db_->uri());
    } else {
      dir_.emplace();
    }
  }
  const char* name() const { return pg_ ? "postgresql" : "sqlite"; }
  bool pg() const { return pg_; }
  std::string where() const { return pg_ ? db_->uri() : dir_->file("j.db"); }
  /// The events table as raw SQL names it.
  std::string events() const { return pg_ ? "dairector.events" : "events"; }
  void exec(const std::string& sql) {
    if (pg_) raw_pg_->exec(sql);
    else raw_db(where()).exec(sql);
  }
  std::string text(const std::string& sql) { return pg_ ? raw_pg_->text(sql) : raw_db(where()).text(sql); }
  /// The format it creates (each backend counts its own).
  int newest_format() const { return pg_ ? journal_format_version : sqlite_journal_format; }
  void set_format_version(int v) {
    if (pg_) exec("UPDATE dairector.meta SET value = '" + std::to_string(v) + "' WHERE key = 'format_version'");
    else exec("PRAGMA user_version=" + std::to_string(v));
  }

private:
  bool pg_;
  std::optional<scratch_dir> dir_;
  std::optional<pg_database> db_;
  std::optional<pg_raw> raw_pg_;
};

/// Runs `story` on each backend, each time on a fresh journal.
template <class Story>
void on_each_backend(Story story) {
  for (bool pg : {false, true}) {
    if (pg && test_pg_uri().empty()) {
      BOOST_TEST_MESSAGE("DAIRECTOR_TEST_PG is not set: the PostgreSQL half is skipped (ctest sets it)");
      continue;
    }
    backend b(pg);
    BOOST_TEST_CONTEXT("backend " << b.name()) { story(b); }
  }
}

std::vector<event> slice(const history& h, std::uint64_t from, std::uint64_t to) {
  return {h.events().begin() + static_cast<std::ptrdiff_t>(from - 1),
          h.events().begin() + static_cast<std::ptrdiff_t>(to)};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(backends)

BOOST_AUTO_TEST_CASE(events_come_back_in_order_per_pipeline_and_pipelines_in_order_of_creation) {
  on_each_backend([](backend& b) {
    const history every = every_type_history("every");
    history first(line_spec(), "zeta");  // neither name nor length order is creation order
    history second(diamond_spec(), "al\"p\\h'a, {b}");  // what SQL and array literals quote
    run_to_end(first);
    run_to_end(second);
    auto j = must_open(b.where());
    BOOST_CHECK(j->pipelines()->empty());
    for (const event& e : every.events()) must_append(*j, e);  // one commit each
    BOOST_CHECK_EQUAL(j->commits(), every.events().size());
    must_append(*j, slice(first, 1, 3));
    std::vector<event> mixed = slice(first, 4, first.seq());  // one batch over two pipelines, one created in it
    for (const event& e : second.events()) mixed.push_back(e);
    must_append(*j, mixed);

    auto listed = j->pipelines();
    BOOST_REQUIRE_MESSAGE(listed.ok(), describe(listed));
    BOOST_REQUIRE_EQUAL(listed->size(), 3u);
    BOOST_CHECK_EQUAL((*listed)[0].id, "every");
    BOOST_CHECK_EQUAL((*listed)[1].id, "zeta");
    BOOST_CHECK_EQUAL((*listed)[1].seq, first.seq());
    BOOST_CHECK_EQUAL((*listed)[2].id, second.id());
    check_same_events(must_read(*j, "every"), every.events());
    j.reset();
    // From the database, by a store that did not write it, and by a reader.
    auto again = must_open(b.where());
    check_same_events(must_read(*again, "zeta"), first.events());
    auto reader = must_open(b.where(), read_only());
    check_same_events(must_read(*reader, second.id()), second.events());
    check_same_events(must_read(*reader, "every"), every.events());
    BOOST_CHECK_EQUAL(reader->history("nope").err().code, errc::not_found);
    BOOST_CHECK(reader->check()->empty());
  });
}

BOOST_AUTO_TEST_CASE(seq_must_follow_on_and_a_refused_batch_writes_nothing) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    run_to_end(h);
    history other(diamond_spec(), "p-2");
    must_append(*must_open(b.where()), slice(h, 1, 2));
    auto j = must_open(b.where());  // the durable seq comes from the database
    BOOST_REQUIRE(j->own("p-1").ok());  // a shared journal's writer takes the pipeline first (SQLite: all are its own)
    event again = h.events()[1];
    JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(std::span<const event>(&again, 1))),
                           "event seq 2 of pipeline 'p-1' does not follow its durable seq 2");
    std::vector<event> batch = slice(h, 3, 7);
    batch.erase(batch.begin() + 2);  // 3, 4, 6, 7
    JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(batch)), "seq 6");
    std::vector<event> across = other.events();  // a good new pipeline, then a bad event
    across.push_back(h.events()[4]);
    journal_refusal(j->append(across));
    BOOST_CHECK_EQUAL(j->history("p-2").err().code, errc::not_found);
    check_same_events(must_read(*j, "p-1"), slice(h, 1, 2));
    event orphan = h.events()[1];
    orphan.pipeline = "never";  // never created
    BOOST_CHECK(j->append(std::span<const event>(&orphan, 1)).has_value());
    // A refusal does not stop the store.
    must_append(*j, slice(h, 3, h.seq()));
    must_append(*j, other.events());
    check_same_events(must_read(*must_open(b.where(), read_only()), "p-1"), h.events());
    BOOST_CHECK_EQUAL(std::stoi(b.text("SELECT count(*) FROM " + b.events())), h.seq() + other.seq());
  });
}

BOOST_AUTO_TEST_CASE(pipeline_created_must_be_seq_1) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    h.start("a");
    auto j = must_open(b.where());
    event late = h.events()[0];
    late.seq = 2;  // a new pipeline that does not begin at 1
    journal_refusal(j->append(std::span<const event>(&late, 1)));
    must_append(*j, h.events());
    event twice = h.events()[0];  // a second pipeline_created, at the seq that follows on
    twice.seq = 3;
    twice.spec = diamond_spec();
    JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(std::span<const event>(&twice, 1))), "must be its seq 1");
    check_same_events(must_read(*j, "p-1"), h.events());
  });
}

BOOST_AUTO_TEST_CASE(a_row_damaged_behind_the_stores_back_is_refused_on_read) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    run_to_end(h);
    must_append(*must_open(b.where()), h.events());
    // One byte of one body changes; the checksum no longer matches.
    b.exec("UPDATE " + b.events() + " SET body = replace(body, '\"seq\":4', '\"seq\":4 ') WHERE seq = 4");
    BOOST_REQUIRE_EQUAL(b.text("SELECT count(*) FROM " + b.events() + " WHERE body LIKE '%\"seq\":4 %'"), "1");
    auto j = must_open(b.where(), read_only());
    journal_damage d;
    const std::string why = journal_refusal(j->history("p-1", &d));
    JOURNAL_CHECK_CONTAINS(why, "event seq 4");
    JOURNAL_CHECK_CONTAINS(why, "checksum mismatch");
    BOOST_CHECK_EQUAL(d.seq, 4u);
    BOOST_CHECK_EQUAL(d.pipeline, "p-1");
    auto all = j->check();
    BOOST_REQUIRE(all.ok());
    BOOST_REQUIRE_EQUAL(all->size(), 1u);
    BOOST_CHECK_EQUAL(all->front().seq, 4u);
  });
}

BOOST_AUTO_TEST_CASE(an_event_over_the_size_bound_is_refused_and_nothing_is_written) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    const std::uint64_t run = h.start("a");
    auto j = must_open(b.where());
    must_append(*j, h.events());
    event huge = h.completed_event("a", run, json{{"text", std::string(event_bytes_max, 'x')}});
    JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(std::span<const event>(&huge, 1))),
                           "over the limit of " + std::to_string(event_bytes_max));
    check_same_events(must_read(*j, "p-1"), h.events());
    h.complete("a", json{{"text", std::string(1000, 'x')}});
    must_append(*j, h.events().back());
    check_same_events(must_read(*must_open(b.where(), read_only()), "p-1"), h.events());
  });
}

BOOST_AUTO_TEST_CASE(a_reader_beside_the_writer_sees_every_commit) {
  on_each_backend([](backend& b) {
    // Nothing written yet: a reader finds nothing, and says so.
    BOOST_CHECK(!open_journal(b.where(), read_only()).ok());
    history h(line_spec());
    run_to_end(h);
    auto writer = must_open(b.where());
    must_append(*writer, slice(h, 1, 3));
    auto reader = must_open(b.where(), read_only());
    check_same_events(must_read(*reader, "p-1"), slice(h, 1, 3));
    must_append(*writer, slice(h, 4, 6));
    check_same_events(must_read(*reader, "p-1"), slice(h, 1, 6));
    BOOST_CHECK_EQUAL(reader->pipelines()->front().seq, 6u);
    JOURNAL_CHECK_CONTAINS(journal_refusal(reader->append(slice(h, 7, 7))), "read-only");
    BOOST_CHECK(reader->put_meta("k", "v").has_value());
    must_append(*writer, slice(h, 7, h.seq()));
    BOOST_CHECK(!writer->put_meta("workdir:p-1", "/tmp/w").has_value());
    check_same_events(must_read(*reader, "p-1"), h.events());
    BOOST_CHECK_EQUAL(reader->get_meta("workdir:p-1")->value_or(""), "/tmp/w");
  });
}

BOOST_AUTO_TEST_CASE(a_write_fault_stops_the_store_and_loses_nothing_durable) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    run_to_end(h);
    {
      journal_options opt;
      opt.fail_after_events = 4;
      auto j = must_open(b.where(), opt);
      must_append(*j, slice(h, 1, 1));
      must_append(*j, slice(h, 2, 4));
      JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(slice(h, 5, 6))), "injected I/O fault");
      JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(slice(h, 5, 5))), "failed earlier");
      check_same_events(must_read(*j, "p-1"), slice(h, 1, 4));
    }
    auto j = must_open(b.where());
    BOOST_REQUIRE(j->own("p-1").ok());
    must_append(*j, slice(h, 5, h.seq()));
    check_same_events(must_read(*j, "p-1"), h.events());
  });
}

// A row deleted from outside leaves a hole in the journal-wide order: it is
// reported, and the pipeline whose history ends before it is refused (its
// later events may have been there; SQLite's format 2 knows they were, from
// its head), never replayed as if whole.
BOOST_AUTO_TEST_CASE(a_gap_in_the_journal_wide_order_is_reported) {
  on_each_backend([](backend& b) {
    history cut(line_spec(), "cut"), whole(line_spec(), "whole");
    run_to_end(cut);
    run_to_end(whole);
    auto j = must_open(b.where());
    must_append(*j, cut.events());    // pos 1..9
    must_append(*j, whole.events());  // pos 10..18
    j.reset();
    b.exec("DELETE FROM " + b.events() + " WHERE pipeline = 'cut' AND seq = " + std::to_string(cut.seq()));
    auto reader = must_open(b.where(), read_only());
    auto gaps = reader->gaps();
    BOOST_REQUIRE_MESSAGE(gaps.ok(), describe(gaps));
    BOOST_REQUIRE_EQUAL(gaps->size(), 1u);
    BOOST_CHECK_EQUAL(gaps->front().pos_from, cut.seq());
    BOOST_CHECK_EQUAL(gaps->front().pos_to, cut.seq());
    JOURNAL_CHECK_CONTAINS(gaps->front().reason, b.pg() ? "1 pipeline whose history ends just before it"
                                                         : "its chain breaks there");
    const std::string why = journal_refusal(reader->history("cut"));
    JOURNAL_CHECK_CONTAINS(why, "pipeline 'cut', event seq " + std::to_string(cut.seq()));
    JOURNAL_CHECK_CONTAINS(why, b.pg() ? "cut short" : "the event at pos " + std::to_string(cut.seq()) + " is missing");
    check_same_events(must_read(*reader, "whole"), whole.events());
    // A writer takes no more events of it.
    auto writer = must_open(b.where());
    BOOST_REQUIRE(writer->own("cut").ok());
    JOURNAL_CHECK_CONTAINS(journal_refusal(writer->append(slice(cut, cut.seq(), cut.seq()))), "takes no more events");
    if (!b.pg()) return;
    // PostgreSQL knows the last position handed out: the journal's last row missing shows too.
    b.exec("DELETE FROM dairector.events WHERE pipeline = 'whole' AND seq = " + std::to_string(whole.seq()));
    auto again = must_open(b.where(), read_only());
    auto tail = again->gaps();
    BOOST_REQUIRE(tail.ok());
    BOOST_REQUIRE_EQUAL(tail->size(), 2u);
    BOOST_CHECK_EQUAL(tail->back().pos_from, cut.seq() + whole.seq());
    JOURNAL_CHECK_CONTAINS(journal_refusal(again->history("whole")), "cut short");
  });
}

// The journal-wide order (GET /events reads it): every pipeline's events by
// position, each append telling where its events begin, read in pages from
// any position, by the writer or a reader, a page starting in the middle of
// a pipeline (its spec then comes from its first row).
BOOST_AUTO_TEST_CASE(events_after_reads_every_pipeline_in_journal_order) {
  on_each_backend([](backend& b) {
    history one(line_spec(), "one"), two(diamond_spec(), "two");
    run_to_end(one);
    run_to_end(two);
    std::vector<event> want;  // in the order appended
    auto j = must_open(b.where());
    BOOST_CHECK_EQUAL(j->last_append_pos(), 0u);
    auto add = [&](std::vector<event> batch) {
      must_append(*j, batch);
      BOOST_CHECK_EQUAL(j->last_append_pos(), want.size() + 1);
      want.insert(want.end(), batch.begin(), batch.end());
    };
    add(slice(one, 1, 2));
    std::vector<event> mixed = slice(two, 1, 3);  // one batch over two pipelines
    for (const event& e : slice(one, 3, 4)) mixed.push_back(e);
    add(mixed);
    add(slice(two, 4, two.seq()));
    add(slice(one, 5, one.seq()));
    BOOST_CHECK(!j->append(std::vector<event>{}).has_value());
    BOOST_CHECK_EQUAL(j->last_append_pos(), 0u);  // that append wrote nothing
    auto reader = must_open(b.where(), read_only());
    for (journal_store* store : {j.get(), reader.get()}) {
      for (std::size_t page : {std::size_t{1}, std::size_t{3}, std::size_t{1000}}) {
        BOOST_TEST_CONTEXT((store == j.get() ? "writer" : "reader") << ", pages of " << page) {
          std::vector<event> got;
          for (std::uint64_t after = 0;;) {
            auto p = store->events_after(after, page);
            BOOST_REQUIRE_MESSAGE(p.ok(), describe(p));
            BOOST_REQUIRE_LE(p->size(), page);
            for (const positioned_event& pe : *p) {
              BOOST_CHECK_EQUAL(pe.pos, after + 1);  // no hole, no repeat
              after = pe.pos;
              got.push_back(pe.e);
            }
            if (p->size() < page) break;
          }
          check_same_events(got, want);
        }
      }
      auto past_the_end = store->events_after(want.size(), 10);
      BOOST_REQUIRE(past_the_end.ok());
      BOOST_CHECK(past_the_end->empty());
      auto middle = store->events_after(6, 2);  // one's seq 4, two's seq 4: specs from their first rows
      BOOST_REQUIRE_MESSAGE(middle.ok(), describe(middle));
      BOOST_REQUIRE_EQUAL(middle->size(), 2u);
      BOOST_CHECK_EQUAL(middle->front().pos, 7u);
      BOOST_CHECK(same_event(middle->front().e, want[6]));
    }
  });
}

// The rows events_after reads are checked as a history's are, and a hole in
// the positions is named, never skipped.
BOOST_AUTO_TEST_CASE(events_after_refuses_a_damaged_row_and_a_missing_position) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    run_to_end(h);
    must_append(*must_open(b.where()), h.events());
    b.exec("UPDATE " + b.events() + " SET body = replace(body, '\"seq\":4', '\"seq\":4 ') WHERE seq = 4");
    auto reader = must_open(b.where(), read_only());
    const std::string why = journal_refusal(reader->events_after(0, 100));
    JOURNAL_CHECK_CONTAINS(why, "pipeline 'p-1', event seq 4");
    JOURNAL_CHECK_CONTAINS(why, "checksum mismatch");
    auto before = reader->events_after(0, 3);  // the rows before it read
    BOOST_REQUIRE_MESSAGE(before.ok(), describe(before));
    BOOST_CHECK_EQUAL(before->size(), 3u);
    b.exec("DELETE FROM " + b.events() + " WHERE seq = 4");
    auto again = must_open(b.where(), read_only());
    JOURNAL_CHECK_CONTAINS(journal_refusal(again->events_after(2, 100)), "the event at pos 4 is missing");
    auto after_the_hole = again->events_after(4, 100);
    BOOST_REQUIRE_MESSAGE(after_the_hole.ok(), describe(after_the_hole));
    BOOST_CHECK_EQUAL(after_the_hole->front().pos, 5u);
  });
}

BOOST_AUTO_TEST_CASE(a_journal_of_a_newer_format_is_refused) {
  on_each_backend([](backend& b) {
    history h(line_spec());
    must_append(*must_open(b.where()), h.events());
    b.set_format_version(b.newest_format() + 1);
    for (bool ro : {false, true}) {
      journal_options opt;
      opt.read_only = ro;
      const std::string why = journal_refusal(open_journal(b.where(), opt));
      JOURNAL_CHECK_CONTAINS(why, "format version " + std::to_string(b.newest_format() + 1));
      JOURNAL_CHECK_CONTAINS(why, "newer");
    }
    b.set_format_version(b.newest_format());
    check_same_events(must_read(*must_open(b.where()), "p-1"), h.events());
  });
}

// Recovery reads every pipeline back and replays it: 100,000 events (1M
// with DAIRECTOR_LONG=1) over pipelines of nine events, appended in batches
// as large as the group commit makes them.
BOOST_AUTO_TEST_CASE(many_events_are_recovered) {
  const char* long_mode = std::getenv("DAIRECTOR_LONG");
  const std::size_t events_total = long_mode && std::string(long_mode) == "1" ? 1'000'000 : 100'000;
  on_each_backend([&](backend& b) {
    history h(line_spec(), "template");
    run_to_end(h);
    const std::size_t per = h.events().size();
    const std::size_t pipelines = events_total / per;
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    {
      journal_options opt;
      opt.sync = journal_sync::normal;
      auto j = must_open(b.where(), opt);
      std::vector<event> batch;
      for (std::size_t p = 0; p < pipelines; ++p) {
        for (event e : h.events()) {
          e.pipeline = "p-" + std::to_string(p);
          batch.push_back(std::move(e));
        }
        if (batch.size() + per > 10'000 || p + 1 == pipelines) {
          must_append(*j, batch);
          batch.clear();
        }
      }
    }
    const auto t1 = clock::now();
    auto j = must_open(b.where());
    auto all = j->pipelines();
    BOOST_REQUIRE(all.ok());
    BOOST_REQUIRE_EQUAL(all->size(), pipelines);
    std::size_t events = 0;
    for (const pipeline_summary& p : *all) {
      auto state = j->replayed(p.id);
      BOOST_REQUIRE_MESSAGE(state.ok(), p.id << ": " << describe(state));
      BOOST_REQUIRE_EQUAL(state->seq(), per);
      events += state->seq();
    }
    BOOST_CHECK_EQUAL(events, pipelines * per);
    const auto t2 = clock::now();
    auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    std::cout << "backends: " << b.name() << ": " << events << " events of " << pipelines
              << " pipelines written in " << ms(t1 - t0) << " ms, recovered (read and replayed) in " << ms(t2 - t1)
              << " ms" << std::endl;
  });
}

BOOST_AUTO_TEST_SUITE_END()
