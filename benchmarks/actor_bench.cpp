// Transitions per second through supervisor actors (in memory), for 1, 100 and
// 10,000 concurrent pipelines, beside the reducer alone in the same process
// run; and the memory of an idle pipeline. One JSON object on stdout.
//
// Each pipeline is a 6-stage chain of no-op handlers whose last stage fails
// on purpose `rounds` times with on_failure re-running the first stage, so a
// pipeline loops by itself (13 transitions a round) without a driver outside.
// Completion is observed by polling the supervisors' state every 5 ms.
//
//   actor_bench [--quick] [--repetitions N] [--journal none|memory|both] [--pipelines N] [--threads N]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

#include <dairector/dairector.hpp>

#include "bench_support.hpp"
#include "supervisor_workload.hpp"

using namespace dairector;
using namespace dairector::bench;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  bool quick = false;
  int repetitions = 3;
  bool journal_none = true, journal_memory = true;
  std::size_t threads = 0;  // CAF scheduler threads; 0 = CAF's default
  std::vector<int> pipelines = {1, 100, 10'000};
};

// Runs `pipelines` supervisors concurrently to the end; repeats sequential
// batches until at least `transitions_min` transitions were made.
run_result run_supervisors(caf::actor_system& sys, int pipelines, int rounds, bool with_journal,
                           std::uint64_t transitions_min,
                           const std::shared_ptr<actors::local_workers>& workers) {
  auto spec = looping_spec(rounds);
  run_result out;
  for (int batch = 0; out.transitions < transitions_min; ++batch) {
    caf::actor journal = with_journal ? sys.spawn(actors::memory_journal, actors::memory_journal_events_max) : caf::actor{};
    auto b = run_pipelines(sys, spec, static_cast<std::size_t>(pipelines), journal, workers,
                           "b" + std::to_string(batch) + "-");
    if (journal) caf::anon_send_exit(journal, caf::exit_reason::user_shutdown);
    if (b.not_done > 0) {
      std::cerr << b.not_done << " pipelines did not end done\n";
      std::exit(1);
    }
    out.seconds += b.seconds;
    out.cpu += b.cpu;
    out.transitions += b.transitions;
  }
  return out;
}

// The reducer alone over the same history, in the same process run.
run_result run_reducer(const std::vector<event>& history, std::uint64_t transitions_min) {
  run_result out;
  const auto start = clock_type::now();
  while (out.transitions < transitions_min) {
    system_state s;
    for (const auto& e : history) s = std::move(*apply(std::move(s), e));
    out.transitions += history.size();
  }
  out.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    if (a == "--quick") opt.quick = true;
    else if (a == "--repetitions" && k + 1 < argc) opt.repetitions = std::max(1, std::atoi(argv[++k]));
    else if (a == "--journal" && k + 1 < argc) {
      std::string j = argv[++k];
      opt.journal_none = j != "memory";
      opt.journal_memory = j != "none";
    } else if (a == "--pipelines" && k + 1 < argc) {
      opt.pipelines = {std::max(1, std::atoi(argv[++k]))};
    } else if (a == "--threads" && k + 1 < argc) {
      opt.threads = static_cast<std::size_t>(std::max(1, std::atoi(argv[++k])));
    } else {
      std::cerr << "usage: actor_bench [--quick] [--repetitions N] [--journal none|memory|both] [--pipelines N] [--threads N]\n";
      return 2;
    }
  }
  if (opt.quick) opt.repetitions = 1;

  caf::actor_system_config cfg;
  configure_bench_system(cfg, opt.threads);
  caf::actor_system sys{cfg};
  auto workers = noop_workers();

  // Memory per idle pipeline: created, nothing running (no worker spawned yet).
  // Measured first, on a fresh heap: later runs leave freed memory behind that
  // new pipelines would reuse.
  const int idle = opt.quick ? 2'000 : 10'000;
  json idle_result;
  {
    auto spec = looping_spec(1);
    caf::scoped_actor self{sys};
    std::vector<caf::actor> sups;
    sups.reserve(idle);
    const std::size_t before = rss_bytes();
    for (int p = 0; p < idle; ++p) {
      actors::supervisor_config sc;
      sc.pipeline = "idle-" + std::to_string(p);
      sc.spec = spec;
      sc.workers = workers;
      sc.drive = false;
      sups.push_back(actors::spawn_supervisor(sys, sc));
    }
    // Every supervisor has initialised once it has answered.
    for (auto& s : sups)
      self->request(s, caf::infinite, actors::state_atom::value).receive([](system_state&) {}, [](caf::error&) {});
    const std::size_t after = rss_bytes();
    const double per = double(after - std::min(after, before)) / idle;
    idle_result = {{"pipelines", idle}, {"rss_bytes_before", before}, {"rss_bytes_after", after},
                   {"bytes_per_idle_pipeline", per}, {"target_bytes", 4096}};
    std::fprintf(stderr, "idle pipelines: %d, %.0f bytes each (target <= 4096)\n", idle, per);
    for (auto& s : sups) self->send(s, actors::stop_atom::value);
  }

  const std::uint64_t min_transitions = opt.quick ? 20'000 : 1'000'000;
  json results = json::array();
  std::cerr << "actor_bench: " << std::thread::hardware_concurrency() << " cores, CAF scheduler threads "
            << sys.scheduler().num_workers() << (opt.quick ? " (quick)" : "") << "\n";
  std::cerr << "pipelines  journal   transitions/s (median)   vs reducer   CAF ping-pong   vs CAF   CPU us/transition (ours / CAF)\n";

  auto recorded = record_history(sys, 50, workers);
  if (!recorded) {
    std::cerr << "actor_bench: " << recorded.err().message << "\n";
    return 1;
  }
  const std::vector<event>& history = *recorded;
  std::vector<double> reducer_runs;
  for (int r = 0; r < opt.repetitions; ++r) reducer_runs.push_back(run_reducer(history, min_transitions * 5).per_s());
  const double reducer = summarize(reducer_runs).median;

  for (int pipelines : opt.pipelines) {
    if (opt.quick && pipelines == 10'000) continue;
    const int rounds = pipelines < 10 ? 900 : pipelines < 1'000 ? 100 : 5;
    for (bool with_journal : {false, true}) {
      if ((with_journal && !opt.journal_memory) || (!with_journal && !opt.journal_none)) continue;
      std::vector<double> runs, caf_runs, cpu, caf_cpu;
      for (int r = 0; r < opt.repetitions; ++r) {
        auto ours = run_supervisors(sys, pipelines, rounds, with_journal, min_transitions, workers);
        auto floor = run_ping_pong(sys, pipelines, min_transitions);
        runs.push_back(ours.per_s());
        cpu.push_back(ours.cpu_us_per_transition());
        caf_runs.push_back(floor.per_s());
        caf_cpu.push_back(floor.cpu_us_per_transition());
      }
      const double med = summarize(runs).median, caf_med = summarize(caf_runs).median;
      results.push_back({{"pipelines", pipelines},
                         {"journal", with_journal ? "memory" : "none"},
                         {"transitions_per_s_median", med},
                         {"runs", runs},
                         {"cpu_us_per_transition_median", summarize(cpu).median},
                         {"ratio_to_reducer", reducer > 0 ? med / reducer : 0},
                         {"caf_ping_pong", {{"transitions_per_s_median", caf_med}, {"runs", caf_runs},
                                            {"cpu_us_per_transition_median", summarize(caf_cpu).median}}},
                         {"ratio_to_caf_ping_pong", caf_med > 0 ? med / caf_med : 0}});
      std::fprintf(stderr, "%9d  %-7s  %22.0f   %.3f   %14.0f   %.3f   %.2f / %.2f\n", pipelines,
                   with_journal ? "memory" : "none", med, reducer > 0 ? med / reducer : 0, caf_med,
                   caf_med > 0 ? med / caf_med : 0, summarize(cpu).median, summarize(caf_cpu).median);
    }
  }

  json out = {{"benchmark", "actors"},
              {"machine", {{"cores", std::thread::hardware_concurrency()},
                           {"scheduler_threads", sys.scheduler().num_workers()}}},
              {"config", {{"quick", opt.quick}, {"repetitions", opt.repetitions},
                          {"transitions_min_per_run", min_transitions}, {"handler", "non-blocking no-op"},
                          {"spec", "6-stage chain looping through on_failure"}}},
              {"caf_ping_pong", "per row: pairs of actors exchanging one message each way, as many pairs as "
                                "pipelines; 2 transitions per round trip (CAF's floor for a run)"},
              {"baseline", {{"name", "reducer alone (move), same history"},
                            {"transitions_per_s_median", reducer}, {"runs", reducer_runs},
                            {"history_events", history.size()}}},
              {"results", results},
              {"idle_memory", idle_result},
              {"targets", {{"aggregate_transitions_per_s", 1'000'000}, {"bytes_per_idle_pipeline", 4096}}}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
