// What the journal benchmarks (journal_bench, growth_bench) share: scratch
// files of a journal (removal, write-back, WAL size), plain SQLite on the
// journal's own table (the baseline of durable writes), the journal actor's
// statistics, and recovery: building a large journal and timing what a
// restart does with it.
//
// Every function here calls `die` on a failure it cannot report otherwise;
// a benchmark names itself and its scratch directory for it.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <sqlite3.h>

#include <dairector/dairector.hpp>
#include <dairector/journal/open.hpp>
#include <dairector/journal_store.hpp>

#include "bench_support.hpp"
#include "supervisor_workload.hpp"

namespace dairector::bench {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

/// What `die` prints first, and the scratch directory it removes ("": none).
inline std::string die_prefix = "benchmark";
inline std::string scratch_to_remove;

/// Says why on standard error, removes the scratch directory and exits 1.
[[noreturn]] inline void die(const std::string& why) {
  std::cerr << die_prefix << ": " << why << "\n";
  std::error_code ec;
  if (!scratch_to_remove.empty()) fs::remove_all(scratch_to_remove, ec);
  std::exit(1);
}

inline double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

inline void remove_journal_files(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".lock"}) fs::remove(path + suffix, ec);
}

// Waits until the file system under `path` has written back everything
// (syncfs): what a run leaves dirty (a batched run: hundreds of MB) would
// otherwise still be draining during the next run and slow its fsyncs by 10x.
// Called before every timed run.
inline void settle(const std::string& path) {
  int fd = ::open(fs::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::syncfs(fd);
  ::close(fd);
}

// A fresh WAL grows with every commit until the first checkpoint (1,000
// pages), and an fsync that also has to commit the file's new size costs
// several times one that does not; after that SQLite reuses the WAL from its
// start. The runs measure that steady state, the state of a journal in use:
// this is how big the WAL gets before its first checkpoint.
inline constexpr std::uintmax_t wal_steady_bytes = 1'000 * 4'096;

inline std::uintmax_t wal_bytes(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path + "-wal", ec);
  return ec ? 0 : n;
}

// ---------------------------------------------------------------------------
// Baselines: plain SQLite, the journal's events table, WAL + synchronous=FULL.

struct row_source {
  std::vector<std::string> pipelines;  // ids rows are spread over (as 1,000 concurrent pipelines)
  std::vector<std::string> bodies;     // real encoded events (not pipeline_created)
  std::vector<std::string> types;      // their type names
  double body_bytes_mean = 0;
};

inline row_source make_row_source(const std::vector<event>& history, const pipeline_spec& spec, int pipelines) {
  row_source rs;
  for (int p = 0; p < pipelines; ++p) rs.pipelines.push_back("b0-" + std::to_string(p + 999 - pipelines + 1));
  double total = 0;
  for (const event& e : history) {
    if (e.type == event_type::pipeline_created) continue;
    event x = e;
    x.pipeline = "b0-999";  // the length of a realistic id
    rs.bodies.push_back(encode_event_text(x, &spec));
    rs.types.emplace_back(to_string(e.type));
    total += double(rs.bodies.back().size());
  }
  if (rs.bodies.empty()) die("the template history has no events");
  rs.body_bytes_mean = total / double(rs.bodies.size());
  return rs;
}

struct raw_sqlite {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;

  // `indexed`: the journal's table; without it, plain rows (no UNIQUE
  // index: SQLite's ceiling for appending the same rows).
  explicit raw_sqlite(const std::string& path, bool indexed = true) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK)
      die("cannot open " + path);
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec(("CREATE TABLE events(pos INTEGER PRIMARY KEY, pipeline TEXT NOT NULL, seq INTEGER NOT NULL,"
         " type TEXT NOT NULL, at_ms INTEGER NOT NULL, by TEXT NOT NULL, body TEXT NOT NULL,"
         " crc INTEGER NOT NULL" + std::string(indexed ? ", UNIQUE(pipeline, seq))" : ")")).c_str());
    prepare("INSERT INTO events(pos, pipeline, seq, type, at_ms, by, body, crc) VALUES(NULL, ?, ?, ?, ?, ?, ?, ?)",
            &insert);
    prepare("BEGIN IMMEDIATE", &begin);
    prepare("COMMIT", &commit);
  }
  ~raw_sqlite() {
    sqlite3_finalize(insert);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close_v2(db);
  }
  raw_sqlite(const raw_sqlite&) = delete;
  raw_sqlite& operator=(const raw_sqlite&) = delete;

  void exec(const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      die(std::string(sql) + ": " + sqlite3_errmsg(db));
  }
  void prepare(const char* sql, sqlite3_stmt** s) {
    if (sqlite3_prepare_v2(db, sql, -1, s, nullptr) != SQLITE_OK) die(std::string(sql) + ": " + sqlite3_errmsg(db));
  }
  void step(sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) die(std::string("sqlite step: ") + sqlite3_errmsg(db));
    sqlite3_reset(s);
  }
  // Untimed: 1,000-row transactions from row `i` until the WAL has reached
  // its steady size and wrapped (see wal_steady_bytes); the next row.
  std::uint64_t prefill(const std::string& path, const row_source& rs, std::uint64_t i);
  // Row i: spread over the pipelines round-robin, seq following on per pipeline.
  void insert_row(const row_source& rs, std::uint64_t i) {
    const std::string& pipeline = rs.pipelines[i % rs.pipelines.size()];
    const std::size_t b = static_cast<std::size_t>(i % rs.bodies.size());
    const std::string& body = rs.bodies[b];
    const std::string& type = rs.types[b];
    sqlite3_bind_text(insert, 1, pipeline.data(), static_cast<int>(pipeline.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, static_cast<sqlite3_int64>(i / rs.pipelines.size() + 1));
    sqlite3_bind_text(insert, 3, type.data(), static_cast<int>(type.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 4, static_cast<sqlite3_int64>(1'700'000'000'000LL + static_cast<long long>(i)));
    sqlite3_bind_text(insert, 5, "worker:bench", -1, SQLITE_STATIC);
    sqlite3_bind_text(insert, 6, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 7, static_cast<sqlite3_int64>((i * 2654435761u) & 0xffffffffu));  // a stand-in CRC
    step(insert);
  }
};

inline std::uint64_t raw_sqlite::prefill(const std::string& path, const row_source& rs, std::uint64_t i) {
  for (int extra = 0; extra < 2;) {
    if (wal_bytes(path) >= wal_steady_bytes) ++extra;
    step(begin);
    for (int k = 0; k < 1'000; ++k) insert_row(rs, i++);
    step(commit);
  }
  return i;
}

inline std::vector<std::uint64_t> journal_stats(caf::scoped_actor& self, const caf::actor& journal) {
  std::vector<std::uint64_t> v;
  self->request(journal, caf::infinite, actors::journal_stats_atom::value)
      .receive([&](std::vector<std::uint64_t>& x) { v = std::move(x); },
               [&](caf::error& err) { die("journal stats: " + to_string(err)); });
  if (v.size() != 2) die("journal stats: unexpected answer");
  return v;
}

// ---------------------------------------------------------------------------
// Recovery of a large journal.

struct recovery_build {
  std::uint64_t events = 0, pipelines = 0, events_per_pipeline = 0;
  double seconds = 0, append_seconds = 0, file_bytes = 0;
};

// `pipelines` copies of the template history (ids r0, r1, ...), interleaved
// event by event as concurrent pipelines write them, each event checked legal
// by the reducer in its pipeline's state, appended in batches of 10,000.
inline recovery_build build_recovery_journal(const std::string& path, const std::vector<event>& tmpl,
                                      std::uint64_t pipelines, journal_options jopt = {}) {
  remove_journal_files(path);
  recovery_build b;
  b.pipelines = pipelines;
  b.events_per_pipeline = tmpl.size();
  const auto start = clock_type::now();
  {
    auto store = open_journal(path, jopt);
    if (!store) die(store.err().message);
    std::vector<system_state> states(pipelines);
    std::vector<std::string> ids;
    for (std::uint64_t p = 0; p < pipelines; ++p) ids.push_back("r" + std::to_string(p));
    std::vector<event> batch;
    batch.reserve(10'000);
    auto flush = [&] {
      const auto t = clock_type::now();
      if (auto err = (*store)->append(batch)) die(err->message);
      b.append_seconds += seconds_since(t);
      b.events += batch.size();
      batch.clear();
    };
    for (const event& e : tmpl) {
      for (std::uint64_t p = 0; p < pipelines; ++p) {
        event x = e;
        x.pipeline = ids[p];
        x.at_ms = e.at_ms + static_cast<std::int64_t>(p);
        if (auto err = apply_in_place(states[p], x)) die("recovery journal: illegal event: " + err->message);
        batch.push_back(std::move(x));
        if (batch.size() == 10'000) flush();
      }
    }
    if (!batch.empty()) flush();
  }  // closing checkpoints the WAL into the file
  b.seconds = seconds_since(start);
  std::error_code ec;
  b.file_bytes = double(fs::file_size(path, ec));
  return b;
}

// The fraction of the file's pages in the page cache (mincore), or -1.
inline double resident_fraction(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  double out = -1;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    const auto size = static_cast<std::size_t>(st.st_size);
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
      const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> vec((size + page - 1) / page);
      if (::mincore(m, size, vec.data()) == 0) {
        std::size_t in = 0;
        for (unsigned char c : vec) in += c & 1u;
        out = double(in) / double(vec.size());
      }
      ::munmap(m, size);
    }
  }
  ::close(fd);
  return out;
}

// Drops this file's pages (only this file's) from the page cache.
inline void evict_from_page_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

struct recovery_run {
  double seconds = 0, open_list_s = 0, history_s = 0, replay_s = 0, cpu = 0, resident_before = -1;
  std::uint64_t events = 0, pipelines = 0, pipelines_total = 0, events_total = 0;
  bool complete = true;
  double per_s() const { return seconds > 0 ? double(events) / seconds : 0; }
  // The time for the whole journal: measured, or (stopped at the deadline)
  // the open and listing plus the pipelines read so far scaled to all of them
  // (every pipeline has the same history, so each costs about the same).
  double full_seconds() const {
    if (complete || pipelines == 0) return seconds;
    return open_list_s + (seconds - open_list_s) * double(pipelines_total) / double(pipelines);
  }
};

// What a restart does: open read-only, list the pipelines, read and verify
// every history, replay each (reducer + invariants). Stops after the pipeline
// that passes `deadline_s` (so that a badly missed target does not take the
// run's whole time budget).
inline recovery_run recover(const std::string& path, double deadline_s) {
  settle(path);
  recovery_run r;
  r.resident_before = resident_fraction(path);
  const auto start = clock_type::now();
  const double cpu0 = process_cpu_s();
  journal_options ro;
  ro.read_only = true;
  auto store = open_journal(path, ro);
  if (!store) die(store.err().message);
  auto list = (*store)->pipelines();
  if (!list) die(list.err().message);
  r.open_list_s = seconds_since(start);
  r.pipelines_total = list->size();
  for (const auto& p : *list) r.events_total += p.seq;
  for (const auto& p : *list) {
    if (seconds_since(start) > deadline_s) {
      r.complete = false;
      break;
    }
    auto t = clock_type::now();
    auto h = (*store)->history(p.id);
    if (!h) die(h.err().message);
    r.history_s += seconds_since(t);
    t = clock_type::now();
    auto s = replay(*h);
    if (!s) die(s.err().message);
    r.replay_s += seconds_since(t);
    if (s->seq() != p.seq || outcome(*s) != pipeline_outcome::done) die("recovered pipeline " + p.id + " is wrong");
    r.events += h->size();
    ++r.pipelines;
  }
  r.seconds = seconds_since(start);
  r.cpu = process_cpu_s() - cpu0;
  return r;
}

inline json recovery_json(const std::vector<recovery_run>& runs) {
  std::vector<double> secs, rates, open_list, hist, rep, cpu, resident, measured;
  std::vector<bool> complete;
  std::vector<std::uint64_t> pipelines_read;
  for (const auto& r : runs) {
    secs.push_back(r.full_seconds());
    measured.push_back(r.seconds);
    complete.push_back(r.complete);
    pipelines_read.push_back(r.pipelines);
    rates.push_back(r.per_s());
    open_list.push_back(r.open_list_s);
    hist.push_back(r.history_s);
    rep.push_back(r.replay_s);
    cpu.push_back(r.cpu);
    resident.push_back(r.resident_before);
  }
  return {{"seconds_median", summarize(secs).median},
          {"runs_seconds", secs},
          {"runs_complete", complete},
          {"runs_measured_seconds", measured},
          {"runs_pipelines_read", pipelines_read},
          {"events_per_s_median", summarize(rates).median},
          {"open_and_list_seconds_median", summarize(open_list).median},
          {"history_seconds_median", summarize(hist).median},
          {"replay_seconds_median", summarize(rep).median},
          {"cpu_seconds_median", summarize(cpu).median},
          {"file_resident_fraction_before", resident}};
}
}  // namespace dairector::bench
