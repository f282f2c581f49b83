// The points of growth_bench: each measures one value of one series in
// this (fresh) process, ours beside its baseline, and returns them as JSON
// (growth_points.hpp).
#include "growth_points.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <future>

#include <sqlite3.h>

#include <dairector/dairector.hpp>
#include <dairector/journal/open.hpp>
#include <dairector/journal_store.hpp>
#include <dairector/plan.hpp>

#include "bench_support.hpp"
#include "journal_workload.hpp"
#include "mutex_map_baseline.hpp"
#include "supervisor_workload.hpp"
#include "workload.hpp"

namespace dairector::bench {

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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

namespace {

std::string make_scratch() {
  const auto dir = fs::current_path() / ("growth_bench." + std::to_string(::getpid()));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) die("cannot create " + dir.string() + ": " + ec.message());
  scratch_to_remove = dir.string();
  return dir.string();
}

}  // namespace

json payload_durable_point(caf::actor_system& sys, std::uint64_t bytes, bool quick) {
  const std::string dir = make_scratch();
  const std::uint64_t pipelines = quick ? 4 : 10;
  const int rounds = payload_rounds(bytes, pipelines, quick ? (32u << 20) : (128u << 20), quick ? 3'000 : 10'000);
  auto spec = looping_spec(rounds, 6, "payload");
  auto workers = payload_workers(bytes);
  const std::string path = dir + "/durable.db";
  auto store = open_journal(path, journal_options{});  // synchronous=FULL
  if (!store) die(store.err().message);
  auto journal = actors::spawn_durable_journal(sys, std::shared_ptr<journal_store>(std::move(*store)));
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
                      {"journal", "durable_journal actor (detached), journal_store WAL synchronous=FULL, a fresh "
                                  "file (so is the baseline's)"},
                      {"commits", commits}, {"events", events}, {"bytes_written", written}}}};
}

namespace {

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

}  // namespace

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

}  // namespace dairector::bench
