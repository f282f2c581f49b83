// How the cost of a transition grows (DESIGN.md "Performance"): time and
// memory per transition against five parameters, each point beside a
// baseline measured in the same process run, and a log-log growth exponent
// per series. One JSON object on stdout, a table on stderr.
//
//   stages          pipelines of 6, 60, 600 stages (a chain looping through
//                   on_failure, no journal) beside the mutex-guarded map
//                   replaying a chain of as many stages;
//   pipelines       1 ... 100,000 concurrent 6-stage pipelines (no journal),
//                   with the peak RSS of each point, beside CAF ping-pong;
//   payload_memory  stage outputs of 100 B ... 1 MiB made by a non-blocking
//                   handler, no journal, beside the zero-copy floor (the
//                   same handler's output stored by the mutex-guarded map);
//   payload_durable the same on the SQLite journal (WAL, synchronous=FULL),
//                   beside raw SQLite inserting the same encoded events with
//                   as many events per commit;
//   recovery        journals of 10k ... 1M events: open, list, read and
//                   replay every pipeline, beside a raw SQLite SELECT of the
//                   same rows.
//
// Every repetition of an actor point runs in a fresh process (this program
// again, with the hidden `--point SERIES=X`), so that its resident memory
// and its peak (VmHWM) belong to that point alone; a recovery point builds
// its journal once and runs its repetitions in one process. The exponent of
// a series is the least-squares slope of log(cost) against log(parameter);
// `worse_than_linear` when it is above 1.15 (1 plus noise).
//
//   growth_bench [--quick] [--repetitions N] [--series a,b] [--threads N]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <sstream>

#include <sqlite3.h>

#include <dairector/codec.hpp>
#include <dairector/dairector.hpp>
#include <dairector/journal_store.hpp>
#include <dairector/plan.hpp>

#include "bench_support.hpp"
#include "journal_workload.hpp"
#include "mutex_map_baseline.hpp"
#include "supervisor_workload.hpp"
#include "workload.hpp"

using namespace dairector;
using namespace dairector::bench;

namespace {

const std::vector<std::string> all_series = {"stages", "pipelines", "payload_memory", "payload_durable", "recovery"};

struct options {
  bool quick = false;
  int repetitions = 3;
  std::size_t threads = 0;  // CAF scheduler threads; 0 = CAF's default
  std::vector<std::string> series = all_series;
  std::string point;  // hidden: "SERIES=X", run one point and print it
};

// ---------------------------------------------------------------------------
// What each series measures at a point, and how big a run is.

struct series_plan {
  std::string name, x_label, unit;
  std::vector<std::uint64_t> xs;
};

std::vector<series_plan> plans(bool quick) {
  return {
      {"stages", "stages per pipeline", "stages", {6, 60, 600}},
      {"pipelines", "concurrent pipelines", "pipelines",
       quick ? std::vector<std::uint64_t>{1, 10, 100, 1'000, 10'000}
             : std::vector<std::uint64_t>{1, 10, 100, 1'000, 10'000, 100'000}},
      {"payload_memory", "bytes per stage output", "bytes", {100, 10u << 10, 100u << 10, 1u << 20}},
      {"payload_durable", "bytes per stage output", "bytes", {100, 10u << 10, 100u << 10, 1u << 20}},
      {"recovery", "events in journal", "events",
       quick ? std::vector<std::uint64_t>{10'000, 50'000} : std::vector<std::uint64_t>{10'000, 100'000, 1'000'000}},
  };
}

// Rounds of a looping pipeline of `stages` stages so that `pipelines` of
// them make about `transitions` transitions ((2 x stages + 1) a round).
int rounds_for(std::uint64_t transitions, std::uint64_t pipelines, std::uint64_t stages) {
  const double per_round = double(pipelines) * double(2 * stages + 1);
  const double most = double(stage_attempts_max) - 2;
  return static_cast<int>(std::clamp(std::round(double(transitions) / per_round) - 1, 0.0, most));
}

double ns_each(double seconds, std::uint64_t n) { return n > 0 ? seconds * 1e9 / double(n) : 0; }

json ours_json(const run_result& r, std::uint64_t pipelines) {
  const double per_pipeline = double(r.rss_done - std::min(r.rss_done, r.rss_before)) / double(pipelines);
  return {{"transitions_per_s", r.per_s()},
          {"ns_per_transition", ns_each(r.seconds, r.transitions)},
          {"cpu_ns_per_transition", ns_each(r.cpu, r.transitions)},
          {"bytes_per_pipeline", per_pipeline},
          {"rss_bytes_per_pipeline", per_pipeline},
          {"peak_rss_bytes", peak_rss_bytes()},
          {"pipelines", pipelines},
          {"transitions", r.transitions},
          {"seconds", r.seconds}};
}

void require_done(const run_result& r) {
  if (r.not_done > 0) die(std::to_string(r.not_done) + " pipelines did not end done");
}

// A single-threaded loop's wall and CPU time per item, run until at least
// `items_min` items: `body()` does some and returns how many.
template <class Body>
json timed_loop(std::uint64_t items_min, Body body) {
  std::uint64_t n = 0;
  const auto start = clock_type::now();
  const double cpu0 = thread_cpu_s();
  while (n < items_min) n += body();
  const double secs = seconds_since(start), cpu = thread_cpu_s() - cpu0;
  return {{"transitions_per_s", secs > 0 ? double(n) / secs : 0},
          {"ns_per_transition", ns_each(secs, n)},
          {"cpu_ns_per_transition", ns_each(cpu, n)},
          {"transitions", n}};
}

// The mutex-guarded map replaying `history` from its start, over and over;
// `before_apply(e)` may change an event first (a fresh output). On a thread
// of its own, as the actors' work is: glibc then serves it from a thread
// arena as it serves them, not from the main heap (which returns freed
// memory at its top to the system, so that a large output there is paid for
// in page faults every time).
template <class Prepare>
json mutex_map_replay(std::vector<event> history, std::uint64_t transitions_min, Prepare before_apply) {
  json j = std::async(std::launch::async, [&] {
             mutex_map_pipeline m;
             return timed_loop(transitions_min, [&] {
               for (event& e : history) {
                 before_apply(e);
                 if (!m.apply(e)) die("the mutex-guarded map refused event " + std::to_string(e.seq));
               }
               return history.size();
             });
           }).get();
  j["name"] = "mutex-guarded map";
  return j;
}

// The reducer alone replaying `history` from the empty state, over and
// over; with `answers`, also asking after every event what the supervisor's
// driver asks (plan.hpp: startable, next_system_event), counted there.
json reducer_replay(const std::vector<event>& history, std::uint64_t transitions_min, std::size_t* answers) {
  return timed_loop(transitions_min, [&] {
    system_state s;
    for (const event& e : history) {
      if (apply_in_place(s, e)) die("the reducer refused event " + std::to_string(e.seq));
      if (answers) *answers += startable(s).size() + (next_system_event(s) ? 1 : 0);
    }
    return history.size();
  });
}

// ---------------------------------------------------------------------------
// One point of each series, in this (fresh) process.

json stages_point(caf::actor_system& sys, std::uint64_t stages, bool quick) {
  const std::uint64_t pipelines = quick ? 50 : 100;
  const std::uint64_t transitions = quick ? 60'000 : 300'000;
  auto spec = looping_spec(rounds_for(transitions, pipelines, stages), static_cast<int>(stages));
  auto r = run_pipelines(sys, spec, pipelines, caf::actor{}, noop_workers(), "p");
  require_done(r);
  json ours = ours_json(r, pipelines);

  auto w = make_workload(shape::chain, stages, quick ? 50'000 : 200'000);
  if (!w) die(w.err().message);
  json baseline = mutex_map_replay(w->history, quick ? 200'000 : 1'000'000, [](event&) {});
  // Where the supervisor's time goes as stages grow: the reducer alone on
  // the same history, and the reducer plus the two questions the driver
  // asks after every event (plan.hpp: startable, next_system_event).
  std::size_t answers = 0;  // reported, so that the questions are not optimised away
  const std::uint64_t replays_min = quick ? 100'000 : 300'000;
  const json reducer = reducer_replay(w->history, replays_min, nullptr);
  const json with_plan = reducer_replay(w->history, replays_min, &answers);
  const double reducer_ns = reducer["cpu_ns_per_transition"].get<double>();
  return {{"ours", ours},
          {"baseline", baseline},
          {"evidence", {{"reducer_cpu_ns_per_transition", reducer_ns},
                        {"reducer_and_plan_cpu_ns_per_transition", with_plan["cpu_ns_per_transition"]},
                        {"plan_cpu_ns_per_transition",
                         std::max(0.0, with_plan["cpu_ns_per_transition"].get<double>() - reducer_ns)},
                        {"plan_answers", answers}}},
          {"config", {{"pipelines", pipelines}, {"journal", "none"}, {"baseline_history_events", w->history.size()}}}};
}

json pipelines_point(caf::actor_system& sys, std::uint64_t pipelines, bool quick) {
  const std::uint64_t transitions_min = quick ? 100'000 : 400'000;
  auto spec = looping_spec(rounds_for(transitions_min, pipelines, 6));
  auto workers = noop_workers();
  // The first batch on a fresh heap gives the memory figures; smaller
  // counts repeat batches until enough transitions were made.
  run_result all = run_pipelines(sys, spec, pipelines, caf::actor{}, workers, "b0-");
  require_done(all);
  json ours = ours_json(all, pipelines);  // peak: this count's alone (ping-pong not yet run)
  for (int batch = 1; all.transitions < transitions_min; ++batch) {
    auto b = run_pipelines(sys, spec, pipelines, caf::actor{}, workers, "b" + std::to_string(batch) + "-");
    require_done(b);
    all.seconds += b.seconds, all.cpu += b.cpu, all.transitions += b.transitions;
  }
  ours["transitions_per_s"] = all.per_s();
  ours["ns_per_transition"] = ns_each(all.seconds, all.transitions);
  ours["cpu_ns_per_transition"] = ns_each(all.cpu, all.transitions);
  ours["transitions"] = all.transitions;
  ours["seconds"] = all.seconds;
  const run_result floor = run_ping_pong(sys, static_cast<int>(pipelines), all.transitions);
  return {{"ours", ours},
          {"baseline", {{"name", "CAF ping-pong"},
                        {"transitions_per_s", floor.per_s()},
                        {"ns_per_transition", ns_each(floor.seconds, floor.transitions)},
                        {"cpu_ns_per_transition", ns_each(floor.cpu, floor.transitions)},
                        {"pairs", pipelines},
                        {"round_trips_per_pair", floor.transitions / 2 / pipelines}}},
          {"config", {{"rounds", rounds_for(transitions_min, pipelines, 6)}, {"journal", "none"}}}};
}

// Where the outputs are copied and where not: the reducer applying a
// history whose outputs are `bytes` long (shared: flat in the size), and
// plan.hpp's handler_input building the next run's input of a stage whose
// upstream holds such an output, beside a memcpy of as many bytes.
json copy_evidence(std::size_t bytes) {
  // A 6-stage chain's history, every output `bytes` long (made once: only
  // what the core does with them is timed).
  auto w = make_workload(shape::chain, 6, 2'000);
  if (!w) die(w.err().message);
  for (event& e : w->history)
    if (e.type == event_type::stage_completed) e.payload = std::make_shared<const json>(make_payload(bytes, e.run));
  const json reducer = reducer_replay(w->history, 200'000, nullptr);
  // The input of s1 as its next run would get it, once s0 has completed.
  system_state s;
  for (const event& e : w->history) {
    if (auto err = apply_in_place(s, e)) die("copy evidence: " + err->message);
    if (e.type == event_type::stage_completed) break;
  }
  const std::uint64_t calls = std::clamp<std::uint64_t>((256u << 20) / std::max<std::size_t>(bytes, 1), 20, 200'000);
  std::size_t sink = 0;
  auto t = timed_loop(calls, [&] {
    sink += handler_input(s, 1)["inputs"].size();
    return 1;
  });
  std::string src(bytes, 'y'), dst(bytes, 'z');
  auto m = timed_loop(calls, [&] {
    std::memcpy(dst.data(), src.data(), bytes);
    sink += static_cast<unsigned char>(dst[bytes / 2]);
    return 1;
  });
  return {{"reducer_cpu_ns_per_transition", reducer["cpu_ns_per_transition"]},
          {"handler_input_ns", t["cpu_ns_per_transition"]},
          {"memcpy_ns", m["cpu_ns_per_transition"]},
          {"sink", sink % 2}};
}

// Rounds and pipelines of a payload point: about `bytes_budget` bytes of
// outputs made (6 outputs of `bytes` a round: five handler runs and the
// last stage's echo of its input), and no more than `transitions_max`.
int payload_rounds(std::uint64_t bytes, std::uint64_t pipelines, std::uint64_t bytes_budget,
                   std::uint64_t transitions_max) {
  const std::uint64_t by_bytes = bytes_budget / std::max<std::uint64_t>(bytes * 6, 1) * 13;
  return rounds_for(std::min(by_bytes, transitions_max), pipelines, 6);
}

json payload_memory_point(caf::actor_system& sys, std::uint64_t bytes, bool quick) {
  const std::uint64_t pipelines = 16;  // enough that small outputs still grow the heap measurably
  const int rounds = payload_rounds(bytes, pipelines, quick ? (128u << 20) : (1u << 30), quick ? 40'000 : 200'000);
  auto r = run_pipelines(sys, looping_spec(rounds, 6, "payload"), pipelines, caf::actor{}, payload_workers(bytes), "p");
  require_done(r);
  json ours = ours_json(r, pipelines);
  ours["bytes_per_pipeline_over_outputs_held"] = ours["bytes_per_pipeline"].get<double>() / double(6 * bytes);
  // The zero-copy floor: the same handler's output made for every
  // completion, then stored by reference in the mutex-guarded map.
  auto w = make_workload(shape::chain, 6, 2'000);
  if (!w) die(w.err().message);
  json baseline = mutex_map_replay(w->history, std::max<std::uint64_t>(r.transitions, 2'000), [&](event& e) {
    if (e.type == event_type::stage_completed) e.payload = std::make_shared<const json>(make_payload(bytes, e.run));
  });
  baseline["name"] = "mutex-guarded map, same handler output, stored by reference";
  return {{"ours", ours},
          {"baseline", baseline},
          {"evidence", copy_evidence(bytes)},
          {"config", {{"pipelines", pipelines}, {"rounds", rounds}, {"journal", "none"}}}};
}

std::string make_scratch() {
  const auto dir = fs::current_path() / ("growth_bench." + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) die("cannot create " + dir.string() + ": " + ec.message());
  scratch_to_remove = dir.string();
  return dir.string();
}

json payload_durable_point(caf::actor_system& sys, std::uint64_t bytes, bool quick) {
  const std::string dir = make_scratch();
  const std::uint64_t pipelines = quick ? 4 : 10;
  const int rounds = payload_rounds(bytes, pipelines, quick ? (32u << 20) : (128u << 20), quick ? 3'000 : 10'000);
  auto spec = looping_spec(rounds, 6, "payload");
  auto workers = payload_workers(bytes);
  const std::string path = dir + "/durable.db";
  auto store = journal_store::open(path, journal_options{});  // synchronous=FULL
  if (!store) die(store.err().message);
  auto journal = sys.spawn<caf::detached>(actors::sqlite_journal, std::shared_ptr<journal_store>(std::move(*store)));
  caf::scoped_actor self{sys};
  settle(path);
  const auto before = journal_stats(self, journal);
  const std::uint64_t written0 = write_bytes();
  // Over once every pipeline is done: its last event is a completion, which
  // the supervisor applies only once durable, after everything before it.
  auto r = run_pipelines(sys, spec, pipelines, journal, workers, "p");
  const std::uint64_t written = write_bytes() - written0;
  require_done(r);
  const auto after = journal_stats(self, journal);
  // Closed (its last checkpoint written) before the baseline writes.
  self->monitor(journal);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {});
  const std::uint64_t commits = after[0] - before[0], events = after[1] - before[1];
  json ours = ours_json(r, pipelines);
  ours["mb_written_per_s"] = r.seconds > 0 ? double(written) / r.seconds / 1e6 : 0;
  ours["bytes_written_per_transition"] = r.transitions > 0 ? double(written) / double(r.transitions) : 0;
  ours["events_per_commit"] = commits > 0 ? double(events) / double(commits) : 0;

  // Raw SQLite: the same encoded events (a recorded history of this spec,
  // outputs included) into the journal's table on the same file system,
  // grouped in commits as the journal grouped them.
  auto recorded = record_history(sys, looping_spec(1, 6, "payload"), workers);
  if (!recorded) die(recorded.err().message);
  const row_source rows = make_row_source(*recorded, *spec, static_cast<int>(pipelines));
  const std::uint64_t per_commit = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(
                                                                    ours["events_per_commit"].get<double>())));
  const std::string raw_path = dir + "/raw.db";
  json baseline;
  {
    raw_sqlite db(raw_path);
    settle(raw_path);
    const std::uint64_t raw_written0 = write_bytes();
    baseline = timed_loop(events, [&, i = std::uint64_t{0}]() mutable {
      db.step(db.begin);
      for (std::uint64_t k = 0; k < per_commit; ++k) db.insert_row(rows, i++);
      db.step(db.commit);
      return per_commit;
    });
    const double secs = baseline["ns_per_transition"].get<double>() * double(baseline["transitions"].get<std::uint64_t>()) / 1e9;
    baseline["mb_written_per_s"] = secs > 0 ? double(write_bytes() - raw_written0) / secs / 1e6 : 0;
  }
  baseline["name"] = "raw SQLite INSERT of the same encoded events, as many per commit";
  baseline["rows_per_commit"] = per_commit;
  baseline["body_bytes_mean"] = rows.body_bytes_mean;
  remove_journal_files(path);
  remove_journal_files(raw_path);
  return {{"ours", ours},
          {"baseline", baseline},
          {"config", {{"pipelines", pipelines}, {"rounds", rounds},
                      {"journal", "sqlite_journal actor (detached), journal_store WAL synchronous=FULL, a fresh "
                                  "file (so is the baseline's)"},
                      {"commits", commits}, {"events", events}, {"bytes_written", written}}}};
}

// Raw SQLite reading every row of the journal in `order`, touching every
// column; no checksum, decode or replay. Recovery reads in the order of the
// (pipeline, seq) index; the file order (pos) is the cheapest there is.
json raw_select(const std::string& path, const char* order, std::uint64_t rows_expected) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) die("cannot open " + path);
  sqlite3_stmt* st = nullptr;
  const std::string sql = std::string("SELECT pipeline, seq, type, at_ms, by, body, crc FROM events ORDER BY ") + order;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) die(sql + ": " + sqlite3_errmsg(db));
  std::uint64_t rows = 0, bytes = 0;
  const auto start = clock_type::now();
  const double cpu0 = process_cpu_s();
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int c : {0, 2, 4, 5}) bytes += static_cast<std::uint64_t>(sqlite3_column_bytes(st, c));
    bytes += static_cast<std::uint64_t>(sqlite3_column_int64(st, 1) + sqlite3_column_int64(st, 3) +
                                        sqlite3_column_int64(st, 6)) % 2;
    ++rows;
  }
  const double secs = seconds_since(start), cpu = process_cpu_s() - cpu0;
  sqlite3_finalize(st);
  sqlite3_close_v2(db);
  if (rows != rows_expected) die("raw SELECT read " + std::to_string(rows) + " of " + std::to_string(rows_expected));
  return {{"seconds", secs}, {"events_per_s", secs > 0 ? double(rows) / secs : 0}, {"cpu_seconds", cpu},
          {"bytes_read", bytes}};
}

// Builds a journal of about `events` events (whole pipelines of ~1,000),
// then recovers it and reads it raw, `repetitions` times while the point
// has taken less than 30 s (at least once): the 1M point's journal alone
// takes tens of seconds to build on a loaded machine.
json recovery_point(caf::actor_system& sys, std::uint64_t events, int repetitions) {
  const auto start = clock_type::now();
  const std::string dir = make_scratch();
  auto tmpl = record_history(sys, 77, noop_workers());  // about 1,000 events a pipeline
  if (!tmpl) die(tmpl.err().message);
  const std::uint64_t pipelines = std::max<std::uint64_t>(1, (events + tmpl->size() - 1) / tmpl->size());
  const std::string path = dir + "/recovery.db";
  const auto built = build_recovery_journal(path, *tmpl, pipelines);
  const double build_s = seconds_since(start);
  std::vector<recovery_run> runs;
  std::vector<json> raw, raw_file_order;
  for (int r = 0; r < repetitions && (r == 0 || seconds_since(start) - build_s < 30); ++r) {
    runs.push_back(recover(path, 600));
    if (runs.back().events != built.events)
      die("recovery read " + std::to_string(runs.back().events) + " of " + std::to_string(built.events));
    raw.push_back(raw_select(path, "pipeline, seq", built.events));
    raw_file_order.push_back(raw_select(path, "pos", built.events));
  }
  const json rj = recovery_json(runs);
  auto median_of = [](const std::vector<json>& v, const char* k) {
    std::vector<double> xs;
    for (const json& j : v) xs.push_back(j[k].get<double>());
    return summarize(xs).median;
  };
  remove_journal_files(path);
  return {{"x", built.events},
          {"ours", {{"seconds", rj["seconds_median"]},
                    {"events_per_s", rj["events_per_s_median"]},
                    {"cpu_seconds", rj["cpu_seconds_median"]},
                    {"open_and_list_seconds", rj["open_and_list_seconds_median"]},
                    {"history_seconds", rj["history_seconds_median"]},
                    {"replay_seconds", rj["replay_seconds_median"]},
                    {"peak_rss_bytes", peak_rss_bytes()},
                    {"runs_seconds", rj["runs_seconds"]},
                    {"file_resident_fraction_before", rj["file_resident_fraction_before"]}}},
          {"baseline", {{"name", "raw SQLite SELECT"},
                        {"order", "ORDER BY pipeline, seq (the order recovery reads)"},
                        {"seconds", median_of(raw, "seconds")},
                        {"events_per_s", median_of(raw, "events_per_s")},
                        {"cpu_seconds", median_of(raw, "cpu_seconds")}}},
          {"evidence", {{"raw_select_file_order_seconds", median_of(raw_file_order, "seconds")},
                        {"raw_select_file_order_cpu_seconds", median_of(raw_file_order, "cpu_seconds")}}},
          {"config", {{"pipelines", built.pipelines},
                      {"events_per_pipeline", built.events_per_pipeline},
                      {"file_bytes", built.file_bytes},
                      {"build_seconds", built.seconds},
                      {"repetitions", runs.size()},
                      {"layout", "pipelines interleaved event by event (as concurrent pipelines write them)"},
                      {"page_cache", "warm (the file was just written)"}}}};
}

// The hidden child mode: one point, one JSON object on stdout.
int run_point(const options& opt) {
  const auto eq = opt.point.find('=');
  const std::string series = opt.point.substr(0, eq);
  const auto x = eq == std::string::npos ? std::nullopt : parse_count(opt.point.substr(eq + 1), 1, 100'000'000);
  if (!x || std::find(all_series.begin(), all_series.end(), series) == all_series.end())
    die("--point wants SERIES=X, got '" + opt.point + "'");
  caf::actor_system_config cfg;
  configure_bench_system(cfg, opt.threads);
  json out;
  {
    caf::actor_system sys{cfg};
    if (series == "stages") out = stages_point(sys, *x, opt.quick);
    else if (series == "pipelines") out = pipelines_point(sys, *x, opt.quick);
    else if (series == "payload_memory") out = payload_memory_point(sys, *x, opt.quick);
    else if (series == "payload_durable") out = payload_durable_point(sys, *x, opt.quick);
    else out = recovery_point(sys, *x, opt.repetitions);
    out["scheduler_threads"] = sys.scheduler().num_workers();
  }
  if (!out.contains("x")) out["x"] = *x;
  std::error_code ec;
  if (!scratch_to_remove.empty()) fs::remove_all(scratch_to_remove, ec);
  std::cout << out.dump() << "\n";
  return 0;
}

// ---------------------------------------------------------------------------
// The parent: every point in fresh processes, medians, exponents, the table.

// Numbers: the median over the repetitions; anything else: the first's.
json median_object(const std::vector<json>& reps, const char* key) {
  json out = json::object();
  if (reps.empty() || !reps.front().contains(key)) return out;
  for (auto& [k, v] : reps.front()[key].items()) {
    if (!v.is_number()) {
      out[k] = v;
      continue;
    }
    std::vector<double> xs;
    for (const json& r : reps) xs.push_back(r[key].value(k, 0.0));
    out[k] = summarize(xs).median;
  }
  return out;
}

double number(const json& j, const char* a, const char* b) {
  return j.contains(a) && j[a].contains(b) && j[a][b].is_number() ? j[a][b].get<double>() : 0;
}

const char* growth_word(double e) {
  if (std::isnan(e)) return "not measured";
  if (e < 0.15) return "flat";
  if (e <= 1.15) return e < 0.85 ? "sublinear" : "about linear";
  return "worse than linear";
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

// The series' summary: exponents, the verdict and a sentence with the figures.
void judge(json& s) {
  const std::string name = s["name"];
  const bool recovery = name == "recovery";
  std::vector<std::pair<double, double>> time, wall, memory, base, extra;
  for (const json& p : s["points"]) {
    const double x = p["x"].get<double>();
    if (recovery) {
      time.emplace_back(x, number(p, "ours", "cpu_seconds"));
      wall.emplace_back(x, number(p, "ours", "seconds"));
      memory.emplace_back(x, number(p, "ours", "peak_rss_bytes"));
      base.emplace_back(x, number(p, "baseline", "cpu_seconds"));
      extra.emplace_back(x, number(p, "baseline", "seconds"));
      continue;
    }
    time.emplace_back(x, number(p, "ours", "cpu_ns_per_transition"));
    wall.emplace_back(x, number(p, "ours", "ns_per_transition"));
    base.emplace_back(x, number(p, "baseline", "cpu_ns_per_transition"));
    // A few pipelines' resident growth is a handful of pages: counted only
    // when the point grew by at least 1 MiB.
    const double per = number(p, "ours", "bytes_per_pipeline");
    if (per * number(p, "ours", "pipelines") >= double(1u << 20)) memory.emplace_back(x, per);
    if (name == "stages") extra.emplace_back(x, number(p, "evidence", "plan_cpu_ns_per_transition"));
    if (name == "payload_memory") extra.emplace_back(x, number(p, "evidence", "handler_input_ns"));
  }
  auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  const double et = loglog_slope(time), em = loglog_slope(memory), eb = loglog_slope(base);
  s["exponent_time"] = num(et);
  s["exponent_memory"] = num(em);
  s["exponent_time_baseline"] = num(eb);
  const double ew = loglog_slope(wall);
  s["exponent_time_wall"] = num(ew);
  s["exponent_basis"] = recovery ? "total process CPU seconds (wall in exponent_time_wall) and peak RSS against events"
                                 : "process CPU ns per transition (wall in exponent_time_wall) and resident bytes "
                                   "per pipeline (points that grew by at least 1 MiB) against the parameter";
  s["worse_than_linear"] = (!std::isnan(et) && et > 1.15) || (!std::isnan(em) && em > 1.15);
  const auto& pts = s["points"];
  const json& a = pts.front();
  const json& b = pts.back();
  const double xa = a["x"].get<double>(), xb = b["x"].get<double>();
  std::string why;
  if (recovery) {
    why = fmt("%.0f to %.0f events: CPU %.2f s to %.2f s", xa, xb, number(a, "ours", "cpu_seconds"),
              number(b, "ours", "cpu_seconds")) +
          " (" + growth_word(et) + fmt(" in events, exponent %.2f; raw SELECT's CPU %.2f)", et, eb) +
          fmt("; wall %.2f s to %.2f s (exponent %.2f, raw SELECT's %.2f)", number(a, "ours", "seconds"),
              number(b, "ours", "seconds"), ew, loglog_slope(extra)) +
          fmt("; peak RSS exponent %.2f: recovery holds one pipeline's history at a time.", em) +
          fmt(" At the largest: history (read, verify, decode) %.2f s, replay %.2f s; raw SQLite reads the rows in "
              "that order in %.2f s, in file order in %.2f s (pipelines are interleaved on disk).",
              number(b, "ours", "history_seconds"), number(b, "ours", "replay_seconds"), number(b, "baseline", "seconds"),
              number(b, "evidence", "raw_select_file_order_seconds"));
    if (eb > 1.15)
      why += fmt(" Raw SQLite reading in recovery's order grows as fast (CPU exponent %.2f): the knee is SQLite's "
                 "page cache (2 MB by default), which the interleaved rows outgrow, not the decode or the replay.",
                 eb);
  } else {
    const double ca = number(a, "ours", "cpu_ns_per_transition"), cb = number(b, "ours", "cpu_ns_per_transition");
    why = fmt("CPU per transition %.0f ns to %.0f ns over a %.0fx larger parameter", ca, cb, xb / xa) + " (" +
          growth_word(et) + fmt(", exponent %.2f; baseline %.2f)", et, eb) +
          "; memory per pipeline " + growth_word(em) + (std::isnan(em) ? "" : fmt(" (exponent %.2f)", em)) + ".";
    const double ea = loglog_slope(extra);
    if (name == "stages")
      why += fmt(" The driver asks startable() and next_system_event() after every event, each a scan of every "
                 "stage (plan.cpp): that alone costs %.0f ns to %.0f ns per transition (exponent %.2f).",
                 number(a, "evidence", "plan_cpu_ns_per_transition"), number(b, "evidence", "plan_cpu_ns_per_transition"), ea);
    if (name == "payload_memory")
      why += fmt(" The reducer shares outputs (%.0f ns to %.0f ns per transition at the two ends), but every run's "
                 "input is built by handler_input(), which deep-copies each upstream output: ",
                 number(a, "evidence", "reducer_cpu_ns_per_transition"),
                 number(b, "evidence", "reducer_cpu_ns_per_transition")) +
             fmt("%.0f ns to %.0f ns per run (exponent %.2f; a memcpy of the same bytes %.0f ns at the largest); "
                 "the handler itself must make its output (the baseline's cost).",
                 number(a, "evidence", "handler_input_ns"), number(b, "evidence", "handler_input_ns"), ea,
                 number(b, "evidence", "memcpy_ns"));
    if (name == "payload_durable")
      why += fmt(" Every output is encoded and written: %.1f MB/s written at the largest (raw SQLite %.1f MB/s).",
                 number(b, "ours", "mb_written_per_s"), number(b, "baseline", "mb_written_per_s"));
    if (name == "pipelines")
      why += fmt(" Peak RSS %.1f MB at the largest point (%.0f bytes per live pipeline). CAF ping-pong there: "
                 "%.0f ns CPU per transition with %.0f round trips a pair, mostly spawning and ending the pairs.",
                 number(b, "ours", "peak_rss_bytes") / 1e6, number(b, "ours", "bytes_per_pipeline"),
                 number(b, "baseline", "cpu_ns_per_transition"), number(b, "baseline", "round_trips_per_pair"));
  }
  s["explanation"] = why;
}

void print_table(const json& s) {
  const bool recovery = s["name"] == "recovery";
  std::fprintf(stderr, "\n%s (%s)\n", s["name"].get<std::string>().c_str(), s["x"].get<std::string>().c_str());
  if (recovery) {
    std::fprintf(stderr, "%12s  %10s  %12s  %12s  %12s  %8s  %10s\n", "events", "seconds", "events/s", "raw SELECT s",
                 "raw rows/s", "ratio", "peak MB");
    for (const json& p : s["points"])
      std::fprintf(stderr, "%12.0f  %10.3f  %12.0f  %12.3f  %12.0f  %8.2f  %10.1f\n", p["x"].get<double>(),
                   number(p, "ours", "seconds"), number(p, "ours", "events_per_s"), number(p, "baseline", "seconds"),
                   number(p, "baseline", "events_per_s"),
                   number(p, "baseline", "seconds") > 0 ? number(p, "ours", "seconds") / number(p, "baseline", "seconds") : 0,
                   number(p, "ours", "peak_rss_bytes") / 1e6);
  } else {
    std::fprintf(stderr, "%10s  %13s  %10s  %10s  %14s  %10s  %13s  %10s  %10s\n", "x", "transitions/s", "ns/trans",
                 "CPU ns/tr", "bytes/pipeline", "peak MB", "baseline t/s", "base CPU ns", "CPU ratio");
    for (const json& p : s["points"]) {
      const double base_cpu = number(p, "baseline", "cpu_ns_per_transition");
      std::fprintf(stderr, "%10.0f  %13.0f  %10.0f  %10.0f  %14.0f  %10.1f  %13.0f  %10.0f  %10.2f\n",
                   p["x"].get<double>(), number(p, "ours", "transitions_per_s"), number(p, "ours", "ns_per_transition"),
                   number(p, "ours", "cpu_ns_per_transition"), number(p, "ours", "bytes_per_pipeline"),
                   number(p, "ours", "peak_rss_bytes") / 1e6, number(p, "baseline", "transitions_per_s"), base_cpu,
                   base_cpu > 0 ? number(p, "ours", "cpu_ns_per_transition") / base_cpu : 0);
    }
  }
  auto ex = [&](const char* k) { return s[k].is_number() ? s[k].get<double>() : std::nan(""); };
  std::fprintf(stderr, "exponent: time %.2f, memory %.2f, baseline time %.2f -> %s\n  %s\n", ex("exponent_time"),
               ex("exponent_memory"), ex("exponent_time_baseline"),
               s["worse_than_linear"].get<bool>() ? "WORSE THAN LINEAR" : "not worse than linear",
               s["explanation"].get<std::string>().c_str());
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  die_prefix = "growth_bench";
  options opt;
  bool repetitions_given = false;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    const bool has_value = k + 1 < argc;
    if (a == "--quick") {
      opt.quick = true;
    } else if (a == "--repetitions" && has_value) {
      auto v = parse_count(argv[++k], 1, 100);
      if (!v) die("--repetitions wants 1..100");
      opt.repetitions = static_cast<int>(*v);
      repetitions_given = true;
    } else if (a == "--threads" && has_value) {
      auto v = parse_count(argv[++k], 1, 256);
      if (!v) die("--threads wants 1..256");
      opt.threads = *v;
    } else if (a == "--series" && has_value) {
      opt.series = split(argv[++k]);
      for (const auto& s : opt.series)
        if (std::find(all_series.begin(), all_series.end(), s) == all_series.end()) die("unknown series '" + s + "'");
    } else if (a == "--point" && has_value) {
      opt.point = argv[++k];
    } else {
      std::cerr << "usage: growth_bench [--quick] [--repetitions N] [--series "
                   "stages,pipelines,payload_memory,payload_durable,recovery] [--threads N]\n";
      return 2;
    }
  }
  if (opt.quick && !repetitions_given) opt.repetitions = 1;
  if (!opt.point.empty()) return run_point(opt);

  const auto start = clock_type::now();
  const double load_start = load_average_1m();
  std::vector<std::string> common;
  if (opt.quick) common.push_back("--quick");
  if (opt.threads > 0) common.insert(common.end(), {"--threads", std::to_string(opt.threads)});
  std::cerr << "growth_bench: " << std::thread::hardware_concurrency() << " cores" << (opt.quick ? " (quick)" : "")
            << ", " << opt.repetitions << " repetition(s), every point in a fresh process\n";
  json series = json::array();
  json scheduler_threads = nullptr;
  for (const series_plan& plan : plans(opt.quick)) {
    if (std::find(opt.series.begin(), opt.series.end(), plan.name) == opt.series.end()) continue;
    json s = {{"name", plan.name}, {"x", plan.x_label}, {"unit", plan.unit}, {"points", json::array()}};
    for (std::uint64_t x : plan.xs) {
      std::vector<std::string> args = {"--point", plan.name + "=" + std::to_string(x)};
      args.insert(args.end(), common.begin(), common.end());
      // A recovery point builds its journal once and repeats inside.
      const bool inside = plan.name == "recovery";
      if (inside) args.insert(args.end(), {"--repetitions", std::to_string(opt.repetitions)});
      std::vector<json> reps;
      for (int r = 0; r < (inside ? 1 : opt.repetitions); ++r) {
        try {
          reps.push_back(json::parse(run_self(args)));
        } catch (const std::exception& e) {
          die(std::string(e.what()) + " (" + plan.name + " = " + std::to_string(x) + ")");
        }
      }
      json p = {{"x", reps.front()["x"]},
                {"ours", median_object(reps, "ours")},
                {"baseline", median_object(reps, "baseline")},
                {"repetitions", reps.size()},
                {"config", reps.front().value("config", json::object())}};
      if (reps.front().contains("evidence")) p["evidence"] = median_object(reps, "evidence");
      if (!inside) {
        std::vector<double> runs;
        for (const json& r : reps) runs.push_back(r["ours"].value("transitions_per_s", 0.0));
        p["ours"]["runs_transitions_per_s"] = runs;
      }
      scheduler_threads = reps.front().value("scheduler_threads", json(nullptr));
      std::fprintf(stderr, "  %s = %llu done (%.0f s so far)\n", plan.name.c_str(), static_cast<unsigned long long>(x),
                   seconds_since(start));
      s["points"].push_back(p);
    }
    judge(s);
    print_table(s);
    series.push_back(s);
  }

  json machine = machine_json();
  machine["threads_used"] = scheduler_threads;
  machine["scheduler_threads"] = scheduler_threads;
  machine["sqlite_version"] = sqlite3_libversion();
  machine["load_average_1m"] = {{"start", load_start}, {"end", load_average_1m()}};
  json out = {{"benchmark", "growth"},
              {"config", {{"quick", opt.quick},
                          {"repetitions", opt.repetitions},
                          {"threads", opt.threads},
                          {"series", opt.series},
                          {"seconds", seconds_since(start)},
                          {"process_per_point", "every repetition of an actor point runs in a fresh process (the "
                                                "peak RSS is that point's alone); a recovery point builds its "
                                                "journal once and repeats in one process"},
                          {"medians", "each figure of a point is the median over its repetitions"},
                          {"handler", "non-blocking in-process handlers (no-op, or a JSON string of the payload size)"},
                          {"worse_than_linear", "exponent_time or exponent_memory above 1.15"}}},
              {"machine", machine},
              {"series", series}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
