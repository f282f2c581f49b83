// Shared helpers for the journal suites: a scratch directory per story, a
// journal that must open, SQL run on a journal file behind the store's back
// (to damage or inspect it), the checksum the format freezes, and a pipeline
// history that uses every event type.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "core/fixtures.hpp"
#include "dairector/codec.hpp"
#include "dairector/journal/open.hpp"
#include "dairector/journal/sqlite.hpp"
#include "dairector/journal_store.hpp"

namespace dairector::test {

/// A directory of its own under /tmp, removed with everything in it when the
/// story ends (pass or fail).
class scratch_dir {
public:
  scratch_dir() {
    std::string name = "/tmp/dairector-journal-XXXXXX";
    BOOST_REQUIRE_MESSAGE(::mkdtemp(name.data()) != nullptr, "mkdtemp failed");
    path_ = name;
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------- the store

inline std::unique_ptr<journal_store> must_open(const std::string& path, journal_options opt = {}) {
  auto j = open_journal(path, opt);
  BOOST_REQUIRE_MESSAGE(j.ok(), "cannot open " << path << ": " << describe(j));
  return std::move(*j);
}

inline journal_options read_only() {
  journal_options opt;
  opt.read_only = true;
  return opt;
}

/// A writer that creates a journal in SQLite's format 1 (what a journal
/// written before format 2 is; an existing journal keeps its own).
inline journal_options format_1() {
  journal_options opt;
  opt.create_format = 1;
  return opt;
}

inline void must_append(journal_store& j, std::span<const event> events) {
  auto err = j.append(events);
  BOOST_REQUIRE_MESSAGE(!err, "append refused: " << err->message);
}

inline void must_append(journal_store& j, const event& e) { must_append(j, std::span<const event>(&e, 1)); }

inline std::vector<event> must_read(journal_store& j, const std::string& pipeline) {
  auto h = j.history(pipeline);
  BOOST_REQUIRE_MESSAGE(h.ok(), "history of '" << pipeline << "': " << describe(h));
  return std::move(*h);
}

/// `got` holds exactly the events of `want`, field by field (same_event).
inline void check_same_events(const std::vector<event>& got, std::span<const event> want) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (std::size_t k = 0; k < got.size(); ++k)
    BOOST_CHECK_MESSAGE(same_event(got[k], want[k]), "event " << k + 1 << " (" << to_string(want[k].type)
                                                              << ") differs after the round trip");
}

/// DAIRECTOR_CHECK_CONTAINS evaluates `text` twice (once more for the
/// message), which would append twice; this one evaluates it once.
#define JOURNAL_CHECK_CONTAINS(text, needle)            \
  do {                                                  \
    const std::string journal_text_once_ = (text);      \
    DAIRECTOR_CHECK_CONTAINS(journal_text_once_, needle); \
  } while (0)

/// The message of an error that must be a journal error (or `code`: owned
/// for a journal another process holds).
template <class T>
std::string journal_refusal(const result<T>& r, errc code = errc::journal) {
  BOOST_REQUIRE_MESSAGE(!r.ok(), "should have been refused");
  BOOST_CHECK_EQUAL(r.err().code, code);
  return r.err().message;
}

inline std::string journal_refusal(const std::optional<error>& err) {
  BOOST_REQUIRE_MESSAGE(err.has_value(), "the append should have been refused");
  BOOST_CHECK_EQUAL(err->code, errc::journal);
  return err->message;
}

// ---------------------------------------------------------------- behind its back

/// A connection of our own to a journal file (not through journal_store).
class raw_db {
public:
  explicit raw_db(const std::string& path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, "sqlite3_open_v2 " << path << ": " << sqlite3_errstr(rc));
  }
  ~raw_db() { sqlite3_close_v2(db_); }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;

  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    const std::string why = message ? message : "";
    sqlite3_free(message);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << why);
  }

  /// The first column of the first row, as text ("" for none).
  std::string text(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    BOOST_REQUIRE_MESSAGE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK,
                          sql << ": " << sqlite3_errmsg(db_));
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

private:
  sqlite3* db_ = nullptr;
};

/// Single quotes doubled, for a literal in SQL.
inline std::string sql_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

/// CRC-32 (IEEE 802.3, as zlib's crc32) written out here rather than taken
/// from the library: the row checksum is part of the frozen format.
inline std::uint32_t crc32_ieee(std::uint32_t crc, std::string_view bytes) {
  crc = ~crc;
  for (unsigned char b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/// The `crc` column of format 1: CRC-32 over pipeline, seq, type, at_ms, by
/// and body, each followed by a newline.
inline std::uint32_t row_crc_v1(std::string_view pipeline, std::uint64_t seq, std::string_view type,
                                std::int64_t at_ms, std::string_view by, std::string_view body) {
  std::uint32_t crc = 0;
  for (const std::string& part : {std::string(pipeline), std::to_string(seq), std::string(type),
                                  std::to_string(at_ms), std::string(by), std::string(body)}) {
    crc = crc32_ieee(crc, part);
    crc = crc32_ieee(crc, "\n");
  }
  return crc;
}

// ---------------------------------------------------------------- files

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

// ---------------------------------------------------------------- histories

/// draft → review (confirm) → build → check (run.retry: 2 runs; then
/// on_failure: re-run build once).
inline std::shared_ptr<const pipeline_spec> review_spec() {
  return must_parse(R"({"name": "review", "stages": [
    {"name": "draft", "run": {"builtin": "echo"}},
    {"name": "review", "after": ["draft"], "run": {"builtin": "echo"}, "confirm": "Is the draft right?"},
    {"name": "build", "after": ["review"], "run": {"builtin": "sleep", "ms": 20}},
    {"name": "check", "after": ["build"],
     "run": {"command": ["sh", "-c", "exit 0"], "timeout_s": 60, "retry": {"max_attempts": 2, "backoff_ms": 100}},
     "on_failure": {"rerun": "build", "max_attempts": 1}}]})");
}

/// A pipeline of review_spec() through every event type, each applied
/// by the reducer with the invariants checked (history::push). It ends
/// cancelled, after a rollback and a late result.
inline history every_type_history(std::string id = "p-1") {
  history h(review_spec(), std::move(id));
  h.start("draft");
  h.complete("draft", json{{"text", "v1"}, {"words", 120}});
  const std::uint64_t lost = h.start("review");
  h.interrupt("review");                 // its worker died
  h.discard("review", lost, "completed");  // and its result came late
  h.start("review");
  h.complete("review");
  h.system_step();  // confirmation_requested
  h.reject("review");
  h.start("review");
  h.complete("review", json{{"verdict", "fine"}});
  h.system_step();
  h.approve("review");
  h.start("build");
  h.cancel("build");
  h.start("build");
  h.complete("build");
  h.start("check");
  h.fail("check", "2 tests fail");
  BOOST_REQUIRE(h.system_step() == event_type::retry_scheduled);  // its own retry first
  h.start("check");  // the next event comes a second later: the retry is due
  h.fail("check", "2 tests fail again");
  BOOST_REQUIRE(h.system_step() == event_type::rerun_requested);  // then on_failure
  h.start("build");
  h.complete("build");
  const std::uint64_t checking = h.seq() + 1;
  h.start("check");
  h.complete("check");
  h.change_context("draft", json{{"note", "new facts"}, {"unicode", "\xC3\xA9t\xC3\xA9 \xE2\x9C\x93"}});
  h.roll_back(checking);  // check was running then: ready again
  const std::uint64_t stopped = h.start("check");
  h.cancel_all();
  h.retry("check");  // cancelled: startable again
  h.cancel_all();
  h.discard("check", stopped, "failed");
  return h;
}

/// Every event type (of the first `count`) occurs in `events`.
inline void check_every_type(std::span<const event> events, int count = event_type_count) {
  std::vector<bool> seen(event_type_count, false);
  for (const event& e : events) seen[static_cast<std::size_t>(e.type)] = true;
  for (int k = 0; k < count; ++k)
    BOOST_CHECK_MESSAGE(seen[static_cast<std::size_t>(k)], "no " << to_string(static_cast<event_type>(k)));
}

}  // namespace dairector::test
