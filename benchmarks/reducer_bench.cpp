// reducer_bench: state transitions per second of the reducer alone
// (README.md#performance), beside the blog's first design measured in the
// same process run: a mutex-guarded map of mutable stage records
// (mutex_map_baseline.hpp) applying the same events.
//
// Workloads (workload.hpp): a chain or a fan-out of 6, 60 or 600 stages, each
// with a pre-built legal history that is replayed from the empty state. Only
// the application of events is timed (steady_clock around whole runs).
//
// The reducer is measured two ways:
//   copy  `next = apply(prev, e)` while `prev` is still held: every transition
//         copies what it changes (copy-on-write) — the honest cost of keeping
//         each state as a value someone else may hold (a watcher, a snapshot);
//   in_place  `apply_in_place(s, e)`: nobody else holds the state, so it is
//         updated where it lies — the supervisor's path (a refusal leaves it
//         untouched).
//
// The process keeps one idle thread so that shared_ptr counts are atomic, as
// in a real (CAF) process; --single-threaded shows what that costs.
// Configurations run repetition-major (rep 1 of every configuration, then rep
// 2, ...) so load from other processes spreads over all of them alike.
//
// Output: one JSON object on stdout, a short table on stderr. --help lists
// the flags; --quick is the CI smoke run (well under 5 s).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "dairector/event.hpp"
#include "dairector/invariants.hpp"
#include "dairector/reducer.hpp"
#include "dairector/spec.hpp"
#include "dairector/state.hpp"
#include "mutex_map_baseline.hpp"
#include "workload.hpp"

namespace {

using namespace dairector;
using bench::mutex_map_pipeline;
using bench::shape;
using bench::workload;
using steady = std::chrono::steady_clock;

constexpr std::size_t stage_counts[] = {6, 60, 600};
constexpr double target_transitions_per_s = 20e6;  // at 6 stages, -O2, one core
// A history is replayed whole; this keeps it in L2 (an event is 200 bytes)
// while amortising the allocations of pipeline_created over ~2000 transitions.
constexpr std::size_t history_events_target = 2048;

struct options {
  bool quick = false;
  std::uint64_t repetitions = 7;
  std::uint64_t events = 2'000'000;  // transitions per run, before --run-ms-max
  std::uint64_t run_ms_max = 250;
  std::string only;  // "SHAPE/STAGES/MODE": one configuration alone (for profiling)
  bool single_threaded = false;  // see bench::idle_thread
};

enum class mode { copy, in_place, mutex_map };
const char* to_string(mode m) {
  switch (m) {
    case mode::copy: return "copy";
    case mode::in_place: return "in_place";
    case mode::mutex_map: return "mutex_map";
  }
  return "?";
}

[[noreturn]] void die(const std::string& message) {
  std::cerr << "reducer_bench: " << message << "\n";
  std::exit(1);
}

[[noreturn]] [[gnu::noinline]] void refused(const event& e, const error& err) {
  die("event seq " + std::to_string(e.seq) + " (" + to_string(e.type) + ") refused: " + err.message);
}

// The timed loops. Each replays the history `histories` times from nothing and
// returns the final seq, so the work cannot be optimised away.
std::uint64_t run_copy(const workload& w, std::uint64_t histories) {
  std::uint64_t sink = 0;
  for (std::uint64_t k = 0; k < histories; ++k) {
    system_state prev;
    for (const event& e : w.history) {
      result<system_state> next = apply(prev, e);  // prev stays alive: copy-on-write
      if (!next) refused(e, next.err());
      prev = std::move(*next);
    }
    sink += prev.seq();
  }
  return sink;
}

std::uint64_t run_in_place(const workload& w, std::uint64_t histories) {
  std::uint64_t sink = 0;
  for (std::uint64_t k = 0; k < histories; ++k) {
    system_state s;
    for (const event& e : w.history)
      if (auto err = apply_in_place(s, e)) refused(e, *err);  // sole owner: in place
    sink += s.seq();
  }
  return sink;
}

std::uint64_t run_mutex_map(const workload& w, std::uint64_t histories) {
  mutex_map_pipeline p;
  std::uint64_t sink = 0;
  for (std::uint64_t k = 0; k < histories; ++k) {
    for (const event& e : w.history)
      if (!p.apply(e)) die("the mutex map refused event seq " + std::to_string(e.seq));
    sink += p.seq();
  }
  return sink;
}

std::uint64_t run(mode m, const workload& w, std::uint64_t histories) {
  switch (m) {
    case mode::copy: return run_copy(w, histories);
    case mode::in_place: return run_in_place(w, histories);
    case mode::mutex_map: return run_mutex_map(w, histories);
  }
  return 0;
}

// Untimed: the three implementations must end in the same, sound state, or
// the comparison means nothing.
void verify(const workload& w) {
  system_state copied;
  system_state moved;
  mutex_map_pipeline base;
  for (const event& e : w.history) {
    auto c = apply(copied, e);
    if (!c) refused(e, c.err());
    copied = std::move(*c);
    if (auto err = apply_in_place(moved, e)) refused(e, *err);
    if (!base.apply(e)) die("the mutex map refused event seq " + std::to_string(e.seq));
  }
  if (!same_facts(copied, moved)) die("copy and in-place modes disagree");
  if (auto broken = check_invariants(copied); !broken.empty()) die("invariant broken: " + broken.front());
  for (stage_index i = 0; i < copied.size(); ++i)
    if (base.status_of(copied.spec()[i].name) != copied.stage(i).stored)
      die("the mutex map disagrees with the reducer on stage " + copied.spec()[i].name);
}

struct measurement {
  shape kind = shape::chain;
  std::size_t stages = 0;
  mode how = mode::copy;
  std::uint64_t transitions_per_run = 0;
  std::vector<double> rates;      // transitions per second of steady_clock time, one per run
  std::vector<double> cpu_rates;  // transitions per second of this thread's CPU time
  bench::summary rate;
  bench::summary cpu_rate;
};

double seconds_since(steady::time_point t0) {
  return std::chrono::duration<double>(steady::now() - t0).count();
}

// How many whole histories one run replays: --events, or fewer if that would
// take longer than --run-ms-max (timed on one history, after a warm-up).
std::uint64_t histories_per_run(mode m, const workload& w, const options& opt) {
  const std::uint64_t len = w.history.size();
  run(m, w, 1);
  const auto t0 = steady::now();
  run(m, w, 1);
  const double history_s = seconds_since(t0);
  const std::uint64_t wanted = std::max<std::uint64_t>(1, (opt.events + len - 1) / len);
  const double fit = static_cast<double>(opt.run_ms_max) / 1e3 / std::max(history_s, 1e-9);
  return std::min(wanted, std::max<std::uint64_t>(1, static_cast<std::uint64_t>(fit)));
}

// One timed run, after one untimed history to bring this configuration's
// events and allocator state back into cache.
void timed_run(measurement& r, const workload& w) {
  run(r.how, w, 1);
  const std::uint64_t histories = r.transitions_per_run / w.history.size();
  const double cpu0 = bench::thread_cpu_s();
  const auto t0 = steady::now();
  const std::uint64_t sink = run(r.how, w, histories);
  const double s = seconds_since(t0);
  const double cpu_s = bench::thread_cpu_s() - cpu0;
  if (sink != r.transitions_per_run) die("a run ended at the wrong seq");
  r.rates.push_back(static_cast<double>(r.transitions_per_run) / s);
  r.cpu_rates.push_back(static_cast<double>(r.transitions_per_run) / std::max(cpu_s, 1e-9));
}

json to_json(const measurement& r, std::size_t history_len) {
  return {{"shape", to_string(r.kind)},
          {"stages", r.stages},
          {"mode", to_string(r.how)},
          {"transitions_per_s_median", std::round(r.rate.median)},
          {"transitions_per_s_min", std::round(r.rate.min)},
          {"transitions_per_s_max", std::round(r.rate.max)},
          {"ns_per_transition", std::round(1e11 / r.rate.median) / 100},
          {"cpu_transitions_per_s_median", std::round(r.cpu_rate.median)},
          {"cpu_ns_per_transition", std::round(1e11 / r.cpu_rate.median) / 100},
          {"transitions_per_run", r.transitions_per_run},
          {"history_events", history_len},
          {"runs", r.rates},
          {"runs_cpu", r.cpu_rates}};
}

options parse_options(int argc, char** argv) {
  options opt;
  bool events_set = false;
  bool reps_set = false;
  bool ms_set = false;
  auto value = [&](int& i, std::uint64_t lo, std::uint64_t hi) {
    std::string flag = argv[i];
    if (i + 1 >= argc) die(flag + " needs a value");
    auto v = bench::parse_count(argv[++i], lo, hi);
    if (!v) die(flag + " wants an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return *v;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      opt.quick = true;
    } else if (a == "--repetitions") {
      opt.repetitions = value(i, 1, 1000);
      reps_set = true;
    } else if (a == "--events") {
      opt.events = value(i, 1, 10'000'000'000);
      events_set = true;
    } else if (a == "--run-ms-max") {
      opt.run_ms_max = value(i, 1, 600'000);
      ms_set = true;
    } else if (a == "--only") {
      if (i + 1 >= argc) die("--only needs SHAPE/STAGES/MODE, e.g. chain/6/copy");
      opt.only = argv[++i];
    } else if (a == "--single-threaded") {
      opt.single_threaded = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: reducer_bench [--quick] [--repetitions N] [--events N] [--run-ms-max N] [--only S/N/M]\n"
                   "                     [--single-threaded]\n"
                   "  --quick          few events and repetitions (CI smoke run, a few seconds)\n"
                   "  --repetitions N  runs per configuration (default 7; median, min, max reported)\n"
                   "  --events N       transitions per run (default 2000000)\n"
                   "  --run-ms-max N   a slow configuration runs fewer transitions to stay near this\n"
                   "                   (default 250)\n"
                   "  --only S/N/M     one configuration, e.g. chain/6/copy (for a profiler); the\n"
                   "                   JSON then has no ratios, growth or target\n"
                   "  --single-threaded  do not start the idle thread: shared_ptr counts are then\n"
                   "                   plain increments, which no real (CAF) process gets\n";
      std::exit(0);
    } else {
      die("unknown argument '" + a + "' (try --help)");
    }
  }
  if (opt.quick) {
    if (!events_set) opt.events = 100'000;
    if (!reps_set) opt.repetitions = 3;
    if (!ms_set) opt.run_ms_max = 15;
  }
  return opt;
}

constexpr shape shapes[] = {shape::chain, shape::fanout};
constexpr mode modes[] = {mode::copy, mode::in_place, mode::mutex_map};

std::string config_name(shape kind, std::size_t n, mode m) {
  return std::string(to_string(kind)) + "/" + std::to_string(n) + "/" + to_string(m);
}

double ns_per(const measurement& m) { return 1e9 / m.rate.median; }

const measurement& find(const std::vector<measurement>& all, shape kind, std::size_t n, mode m) {
  for (const measurement& r : all)
    if (r.kind == kind && r.stages == n && r.how == m) return r;
  die("missing measurement " + config_name(kind, n, m));
}

// ratios: reducer / baseline throughput (above 1: the reducer is faster).
// growth: ns per transition by stage count, relative to 6 stages, and the
// exponent k of cost ~ stages^k fitted between 6 and 600.
// `by` picks the clock: steady_clock medians, or CPU-time medians.
json comparisons(const std::vector<measurement>& all, bench::summary measurement::*by) {
  auto rate = [&](shape kind, std::size_t n, mode m) { return (find(all, kind, n, m).*by).median; };
  json ratios = json::object();
  json growth = json::object();
  for (shape kind : shapes) {
    for (std::size_t n : stage_counts)
      for (mode m : {mode::copy, mode::in_place})
        ratios[to_string(kind)][std::to_string(n)][to_string(m)] =
            std::round(rate(kind, n, m) / rate(kind, n, mode::mutex_map) * 1000) / 1000;
    for (mode m : modes) {
      json g;
      const double at6 = 1e9 / rate(kind, 6, m);
      for (std::size_t n : stage_counts) {
        const double ns = 1e9 / rate(kind, n, m);
        g["ns_per_transition"][std::to_string(n)] = std::round(ns * 100) / 100;
        g["relative_to_6"][std::to_string(n)] = std::round(ns / at6 * 100) / 100;
      }
      g["exponent"] = std::round(std::log(1e9 / rate(kind, 600, m) / at6) / std::log(100.0) * 100) / 100;
      growth[to_string(kind)][to_string(m)] = std::move(g);
    }
  }
  return {{"ratios", std::move(ratios)}, {"growth", std::move(growth)}};
}

void add_comparisons(json& out, const std::vector<measurement>& all) {
  json wall = comparisons(all, &measurement::rate);
  json cpu = comparisons(all, &measurement::cpu_rate);
  out["ratios"] = std::move(wall["ratios"]);
  out["growth"] = std::move(wall["growth"]);
  out["ratios_by_cpu_time"] = std::move(cpu["ratios"]);
  out["growth_by_cpu_time"] = std::move(cpu["growth"]);
  // The target is per core: judged by the thread's CPU time, which time-slicing
  // on a shared machine does not inflate (wall-clock figures are reported too).
  const double copy6 = find(all, shape::chain, 6, mode::copy).cpu_rate.median;
  const double in_place6 = find(all, shape::chain, 6, mode::in_place).cpu_rate.median;
  out["target"] = {{"transitions_per_s", target_transitions_per_s}, {"shape", "chain"}, {"stages", 6},
                   {"judged_by", "cpu_time"},
                   {"copy_met", copy6 >= target_transitions_per_s},
                   {"in_place_met", in_place6 >= target_transitions_per_s}};
}

void print_table(const json& out, const std::vector<measurement>& all, const options& opt) {
  const json& mj = out["machine"];
  std::fprintf(stderr, "reducer_bench: %s, %s %s, %s, 1 thread, %s refcounts, %llu reps%s\n",
               mj["cpu"].get<std::string>().c_str(), bench::build_type, bench::cxx_flags,
               mj["compiler"].get<std::string>().c_str(), mj["atomic_refcounts"].get<bool>() ? "atomic" : "plain",
               static_cast<unsigned long long>(opt.repetitions), opt.quick ? " (quick)" : "");
  const double load = std::max(mj["load_1m_before"].get<double>(), mj["load_1m_after"].get<double>());
  if (load > mj["cores"].get<double>() - 0.5)
    std::fprintf(stderr, "warning: load average %.1f on %d cores: other processes shared the core, figures are low\n",
                 load, mj["cores"].get<int>());
  if (!out.contains("growth")) {
    for (const measurement& r : all)
      std::fprintf(stderr, "%s: %.2f M transitions/s (%.1f ns each; min %.2f, max %.2f M/s; by CPU time %.2f M/s)\n",
                   config_name(r.kind, r.stages, r.how).c_str(), r.rate.median / 1e6, ns_per(r), r.rate.min / 1e6,
                   r.rate.max / 1e6, r.cpu_rate.median / 1e6);
    return;
  }
  std::fprintf(stderr, "M transitions/s, median of wall-clock runs (by CPU time in brackets)\n");
  std::fprintf(stderr, "%-7s %6s %15s %15s %15s %9s %9s\n", "shape", "stages", "copy", "in place", "mutex map",
               "copy/mtx", "inpl/mtx");
  for (shape kind : shapes) {
    for (std::size_t n : stage_counts) {
      const measurement& c = find(all, kind, n, mode::copy);
      const measurement& mv = find(all, kind, n, mode::in_place);
      const measurement& b = find(all, kind, n, mode::mutex_map);
      std::fprintf(stderr, "%-7s %6zu %6.2f (%6.2f) %6.2f (%6.2f) %6.2f (%6.2f) %9.2f %9.2f\n", to_string(kind), n,
                   c.rate.median / 1e6, c.cpu_rate.median / 1e6, mv.rate.median / 1e6, mv.cpu_rate.median / 1e6,
                   b.rate.median / 1e6, b.cpu_rate.median / 1e6, c.rate.median / b.rate.median,
                   mv.rate.median / b.rate.median);
    }
  }
  for (mode m : modes) {
    const json& g = out["growth"]["chain"][to_string(m)];
    std::fprintf(stderr, "growth (chain, %s): %.1f -> %.1f -> %.1f ns/transition at 6 -> 60 -> 600 stages (~stages^%.2f)\n",
                 to_string(m), g["ns_per_transition"]["6"].get<double>(), g["ns_per_transition"]["60"].get<double>(),
                 g["ns_per_transition"]["600"].get<double>(), g["exponent"].get<double>());
  }
  const json& t = out["target"];
  std::fprintf(stderr,
               "target %.0f M/s per core at 6 stages (chain), by CPU time: copy %s (%.1f M/s), in place %s (%.1f M/s)\n",
               target_transitions_per_s / 1e6, t["copy_met"].get<bool>() ? "met" : "NOT met",
               find(all, shape::chain, 6, mode::copy).cpu_rate.median / 1e6,
               t["in_place_met"].get<bool>() ? "met" : "NOT met",
               find(all, shape::chain, 6, mode::in_place).cpu_rate.median / 1e6);
}

}  // namespace

int main(int argc, char** argv) {
  const options opt = parse_options(argc, argv);
  std::optional<bench::idle_thread> idle;
  if (!opt.single_threaded) idle.emplace();
  const double load_before = bench::load_average_1m();
  std::vector<measurement> all;
  std::vector<std::unique_ptr<workload>> workloads;
  std::vector<const workload*> workload_of;  // parallel to `all`
  std::map<std::pair<shape, std::size_t>, std::size_t> history_len;
  for (shape kind : shapes) {
    for (std::size_t n : stage_counts) {
      std::vector<mode> chosen;
      for (mode m : modes)
        if (opt.only.empty() || opt.only == config_name(kind, n, m)) chosen.push_back(m);
      if (chosen.empty()) continue;
      auto made = bench::make_workload(kind, n, history_events_target);
      if (!made) die("workload refused: " + made.err().message);
      auto w = std::make_unique<workload>(std::move(*made));
      verify(*w);
      history_len[{kind, n}] = w->history.size();
      for (mode m : chosen) {
        measurement r;
        r.kind = kind;
        r.stages = n;
        r.how = m;
        r.transitions_per_run = histories_per_run(m, *w, opt) * w->history.size();
        all.push_back(std::move(r));
        workload_of.push_back(w.get());
      }
      workloads.push_back(std::move(w));
    }
  }
  // Repetition-major: a burst of load from other processes lands on every
  // configuration alike instead of on one, so the ratios stay fair.
  for (std::uint64_t k = 0; k < opt.repetitions; ++k)
    for (std::size_t c = 0; c < all.size(); ++c) timed_run(all[c], *workload_of[c]);
  for (measurement& r : all) {
    r.rate = bench::summarize(r.rates);
    r.cpu_rate = bench::summarize(r.cpu_rates);
  }
  if (all.empty()) die("--only " + opt.only + " names no configuration (e.g. chain/6/copy, fanout/600/mutex_map)");

  json out = {{"benchmark", "reducer"}, {"machine", bench::machine_json()}};
  out["machine"]["atomic_refcounts"] = !bench::process_is_single_threaded();
  out["machine"]["load_1m_before"] = load_before;
  out["machine"]["load_1m_after"] = bench::load_average_1m();
  out["config"] = {{"quick", opt.quick},
                   {"repetitions", opt.repetitions},
                   {"events_per_run", opt.events},
                   {"run_ms_max", opt.run_ms_max},
                   {"only", opt.only.empty() ? json(nullptr) : json(opt.only)},
                   {"single_threaded", opt.single_threaded},
                   {"clock", "steady_clock"}};
  json results = json::array();
  json baseline = json::array();
  for (const measurement& r : all)
    (r.how == mode::mutex_map ? baseline : results).push_back(to_json(r, history_len[{r.kind, r.stages}]));
  out["results"] = std::move(results);
  out["baseline"] = std::move(baseline);
  if (opt.only.empty()) add_comparisons(out, all);
  std::cout << out.dump() << "\n";
  print_table(out, all, opt);
  return 0;
}
