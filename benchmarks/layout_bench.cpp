// Candidate journal layouts in plain SQLite (issue 16: what a format version
// 2 would earn), measured before any is built: 1,000 pipelines appending
// round-robin, 1,000 rows a transaction (WAL, synchronous=FULL), on a table
// that already holds --prefill rows (the steady state of a journal that has
// been in use: an index's cost grows with it), and then the time to read one
// pipeline's history back in seq order.
//
//   v1         the journal's table today: UNIQUE(pipeline, seq)
//   seq_first  the same index with its columns swapped: UNIQUE(seq, pipeline)
//   chain      no index: each row holds the position of its pipeline's
//              previous row, and a small heads table the position of each
//              pipeline's last (one upsert per pipeline a transaction);
//              a history is read by following the chain back
//   plain      no index at all: SQLite's ceiling for the same rows (the
//              baseline; a history cannot be read without a full scan)
//
// Two spreads of seqs: `lockstep` (every pipeline at the same seq, as when
// they all started together) and `staggered` (pipelines 0 to 499 events
// apart, as in a server whose pipelines started at different times).
//
//   layout_bench [--quick] [--prefill N] [--rows N] [--repetitions N] [--dir PATH]
// One JSON object on stdout, a table on stderr.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "bench_support.hpp"
#include "journal_workload.hpp"
#include "supervisor_workload.hpp"

using namespace dairector::bench;
using dairector::json;

namespace {

constexpr int pipelines = 1'000;
constexpr int rows_per_transaction = 1'000;

struct db_file {
  sqlite3* db = nullptr;
  std::string path;
  explicit db_file(std::string p) : path(std::move(p)) {
    remove();
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
      die("cannot open " + path);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA cache_size=-65536");  // as the journal's store
  }
  ~db_file() {
    sqlite3_close_v2(db);
    remove();
  }
  void remove() {
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) die(sql + ": " + (err ? err : "?"));
  }
  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) die(sql + ": " + sqlite3_errmsg(db));
    return s;
  }
  void step_done(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) die(std::string("step: ") + sqlite3_errmsg(db));
    sqlite3_reset(s);
  }
};

struct outcome {
  double rows_per_s = 0, cpu_us_per_row = 0, bytes_written_per_row = 0, history_ms = 0;
  std::uint64_t history_rows = 0;
};

outcome run(const std::string& dir, const std::string& layout, bool staggered, std::uint64_t prefill,
            std::uint64_t timed) {
  db_file f(dir + "/layout-" + layout + ".db");
  const std::string cols =
      "pos INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL, "
      "at_ms INTEGER NOT NULL, by TEXT NOT NULL, body TEXT NOT NULL, crc INTEGER NOT NULL";
  const bool chain = layout == "chain";
  if (layout == "v1") f.exec("CREATE TABLE events(" + cols + ", UNIQUE(pipeline, seq))");
  else if (layout == "seq_first") f.exec("CREATE TABLE events(" + cols + ", UNIQUE(seq, pipeline))");
  else if (chain) {
    f.exec("CREATE TABLE events(" + cols + ", prev INTEGER NOT NULL)");
    f.exec("CREATE TABLE heads(pipeline TEXT PRIMARY KEY, last_pos INTEGER NOT NULL) WITHOUT ROWID");
  } else f.exec("CREATE TABLE events(" + cols + ")");
  sqlite3_stmt* insert = f.prepare(chain ? "INSERT INTO events VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)"
                                         : "INSERT INTO events VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
  sqlite3_stmt* head = chain ? f.prepare("INSERT INTO heads VALUES(?, ?) ON CONFLICT(pipeline) DO UPDATE SET "
                                         "last_pos = excluded.last_pos")
                             : nullptr;
  std::vector<std::string> ids;
  for (int p = 0; p < pipelines; ++p) ids.push_back("b0-" + std::to_string(p));
  std::vector<std::int64_t> last(pipelines, 0);
  const std::string body(143, 'x');  // journal_bench's mean encoded event
  std::uint64_t pos = 0;
  // Pipeline p's first seq: 1, or (staggered) up to 499 events further on.
  auto first_seq = [&](int p) -> std::int64_t { return 1 + (staggered ? (p * 37) % 500 : 0); };
  auto transaction = [&] {
    f.exec("BEGIN IMMEDIATE");
    for (int k = 0; k < rows_per_transaction; ++k, ++pos) {
      const int p = static_cast<int>(pos % pipelines);
      const auto seq = static_cast<std::int64_t>(pos / pipelines) + first_seq(p);
      sqlite3_bind_int64(insert, 1, static_cast<std::int64_t>(pos + 1));
      sqlite3_bind_text(insert, 2, ids[p].data(), static_cast<int>(ids[p].size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 3, seq);
      sqlite3_bind_text(insert, 4, "stage_completed", -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 5, 1'700'000'000'000 + static_cast<std::int64_t>(pos));
      sqlite3_bind_text(insert, 6, "worker:bench", -1, SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 8, static_cast<std::int64_t>(pos & 0xffffffff));
      if (chain) {
        sqlite3_bind_int64(insert, 9, last[p]);
        last[p] = static_cast<std::int64_t>(pos + 1);
      }
      f.step_done(insert);
    }
    if (chain)
      for (int p = 0; p < pipelines; ++p) {  // every pipeline wrote in this transaction
        sqlite3_bind_text(head, 1, ids[p].data(), static_cast<int>(ids[p].size()), SQLITE_STATIC);
        sqlite3_bind_int64(head, 2, last[p]);
        f.step_done(head);
      }
    f.exec("COMMIT");
  };
  while (pos < prefill) transaction();
  settle(f.path);
  outcome out;
  const auto start = clock_type::now();
  const double cpu0 = process_cpu_s();
  const std::uint64_t written0 = write_bytes();
  const std::uint64_t first = pos;
  while (pos < first + timed) transaction();
  const double seconds = seconds_since(start);
  out.rows_per_s = double(pos - first) / seconds;
  out.cpu_us_per_row = (process_cpu_s() - cpu0) * 1e6 / double(pos - first);
  out.bytes_written_per_row = double(write_bytes() - written0) / double(pos - first);

  // One history, in seq order: pipeline 500's (about pos / 1,000 rows).
  if (layout != "plain") {
    const std::string& id = ids[500];
    const auto t = clock_type::now();
    std::uint64_t n = 0, bytes = 0;
    if (layout == "v1") {
      sqlite3_stmt* q = f.prepare("SELECT body FROM events WHERE pipeline = ? ORDER BY seq");
      sqlite3_bind_text(q, 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      while (sqlite3_step(q) == SQLITE_ROW) ++n, bytes += static_cast<std::uint64_t>(sqlite3_column_bytes(q, 0));
      sqlite3_finalize(q);
    } else if (layout == "seq_first") {
      // One lookup per seq, from the pipeline's first to its last.
      sqlite3_stmt* q = f.prepare("SELECT body FROM events WHERE seq = ? AND pipeline = ?");
      sqlite3_bind_text(q, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
      for (std::int64_t seq = first_seq(500);; ++seq) {
        sqlite3_bind_int64(q, 1, seq);
        if (sqlite3_step(q) != SQLITE_ROW) break;
        ++n, bytes += static_cast<std::uint64_t>(sqlite3_column_bytes(q, 0));
        sqlite3_reset(q);
      }
      sqlite3_finalize(q);
    } else {  // chain: from the head back
      sqlite3_stmt* q = f.prepare("SELECT body, prev FROM events WHERE pos = ?");
      for (std::int64_t at = last[500]; at > 0;) {
        sqlite3_bind_int64(q, 1, at);
        if (sqlite3_step(q) != SQLITE_ROW) break;
        ++n, bytes += static_cast<std::uint64_t>(sqlite3_column_bytes(q, 0));
        at = sqlite3_column_int64(q, 1);
        sqlite3_reset(q);
      }
      sqlite3_finalize(q);
    }
    out.history_ms = seconds_since(t) * 1e3;
    out.history_rows = n;
    if (n != pos / pipelines) die(layout + ": read " + std::to_string(n) + " rows of pipeline 500's history");
  }
  sqlite3_finalize(insert);
  if (head) sqlite3_finalize(head);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  die_prefix = "layout_bench";
  bool quick = false;
  std::uint64_t prefill = 300'000, rows = 200'000;
  int repetitions = 1;
  std::string dir = ".";
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    if (a == "--quick") quick = true;
    else if (a == "--prefill" && k + 1 < argc) prefill = std::stoull(argv[++k]);
    else if (a == "--rows" && k + 1 < argc) rows = std::stoull(argv[++k]);
    else if (a == "--repetitions" && k + 1 < argc) repetitions = std::max(1, std::atoi(argv[++k]));
    else if (a == "--dir" && k + 1 < argc) dir = argv[++k];
    else {
      std::cerr << "usage: layout_bench [--quick] [--prefill N] [--rows N] [--repetitions N] [--dir PATH]\n";
      return 2;
    }
  }
  if (quick) prefill = 30'000, rows = 20'000;
  std::cerr << "layout_bench: 1,000 pipelines round-robin, 1,000 rows a transaction, WAL synchronous=FULL; "
            << prefill << " rows before, " << rows << " timed\n"
            << "layout     seqs        rows/s (median)  vs plain  CPU us/row  bytes written/row  history read\n";
  json results = json::array();
  for (const char* spread : {"lockstep", "staggered"}) {
    double plain = 0;
    for (const char* layout : {"plain", "v1", "seq_first", "chain"}) {
      std::vector<double> rate, cpu, written, hist;
      std::uint64_t hist_rows = 0;
      for (int r = 0; r < repetitions; ++r) {
        const outcome o = run(dir, layout, std::string(spread) == "staggered", prefill, rows);
        rate.push_back(o.rows_per_s);
        cpu.push_back(o.cpu_us_per_row);
        written.push_back(o.bytes_written_per_row);
        hist.push_back(o.history_ms);
        hist_rows = o.history_rows;
      }
      const double med = summarize(rate).median;
      if (std::string(layout) == "plain") plain = med;
      results.push_back({{"layout", layout},
                         {"seqs", spread},
                         {"rows_per_s_median", med},
                         {"runs", rate},
                         {"ratio_to_plain", plain > 0 ? med / plain : 0},
                         {"cpu_us_per_row_median", summarize(cpu).median},
                         {"bytes_written_per_row_median", summarize(written).median},
                         {"history_rows", hist_rows},
                         {"history_read_ms_median", summarize(hist).median}});
      std::fprintf(stderr, "%-10s %-10s %16.0f  %8.2f  %10.2f  %17.0f  %s\n", layout, spread, med,
                   plain > 0 ? med / plain : 0, summarize(cpu).median, summarize(written).median,
                   hist_rows ? (std::to_string(hist_rows) + " rows in " + std::to_string(summarize(hist).median) + " ms").c_str()
                             : "—");
    }
  }
  json out = {{"benchmark", "layout"},
              {"config", {{"pipelines", pipelines},
                          {"rows_per_transaction", rows_per_transaction},
                          {"prefill_rows", prefill},
                          {"timed_rows", rows},
                          {"repetitions", repetitions},
                          {"body_bytes", 143},
                          {"sqlite", sqlite3_libversion()}}},
              {"results", results}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
