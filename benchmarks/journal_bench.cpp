// Durable transitions per second: supervisors on the group-committing SQLite
// journal (WAL, synchronous=FULL) for 1, 100, 1,000 and 10,000 concurrent
// pipelines, beside baselines measured in the same run on the same file
// system with plain SQLite and the journal's table: the ceiling (1,000 rows
// per transaction; keys in order as one pipeline writes them, and round-robin
// over 1,000 pipelines as the journal of 1,000 pipelines sees them, and the
// latter as plain rows, without the table's index: SQLite's own ceiling)
// and one commit per event. Then the time to recover a 1,000,000-event journal (open
// read-only, list the pipelines, read every history, replay each with the
// invariants checked). One JSON object on stdout, a table on stderr.
//
// Each pipeline is actor_bench's 6-stage chain of no-op handlers whose last
// stage fails on purpose `rounds` times with on_failure re-running the first,
// so it loops by itself (13 x (rounds + 1) transitions). A run is over when
// the journal reports every expected event committed (polled every 2 ms), so
// its time includes the last fsync. Rounds are sized from a pilot run so that
// a repetition lasts about --seconds. Every timed run starts on a journal
// whose WAL is past its first checkpoint (steady state) and after a syncfs
// (nothing of the previous run still being written back). The 1-pipeline
// runs are each sandwiched between two one-commit-per-event runs, because
// fsync latency on a shared VM drifts by 10x within seconds. The pairs are
// run again on a simulated slower disk (--slow-sync-ms, default 2: every
// SQLite sync followed by that long a sleep, slow_sync.hpp), and one more
// 1-pipeline run is traced for the timeline of one stage (where its time
// goes: journal/include/dairector/journal/trace.hpp).
//
// Files go to a fresh directory under --dir (default: the current directory,
// so the figures mean the disk; /tmp may be tmpfs, where fsync costs
// nothing), removed at the end unless --keep. The file system's type, the
// load average and an fdatasync probe are reported.
//
//   journal_bench [--quick] [--repetitions N] [--pipelines N] [--threads N]
//                 [--dir PATH] [--keep] [--seconds S] [--recovery-events N]
//                 [--recovery-deadline S] [--parts baselines,durable,recovery,in_use]
//                 [--slow-sync-ms MS] [--in-use-events N]
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>

#include <sqlite3.h>

#include <dairector/dairector.hpp>
#include <dairector/journal/open.hpp>
#include <dairector/journal_store.hpp>

#include <dairector/journal/trace.hpp>

#include "bench_support.hpp"
#include "journal_workload.hpp"
#include "slow_sync.hpp"
#include "supervisor_workload.hpp"

using namespace dairector;
using namespace dairector::bench;

namespace {

struct options {
  bool quick = false;
  bool keep = false;
  int repetitions = 3;
  std::size_t threads = 0;  // CAF scheduler threads; 0 = CAF's default
  std::vector<int> pipelines = {1, 100, 1'000, 10'000};
  std::string dir;             // parent of the scratch directory; "" = current directory
  double seconds = 2.5;        // target length of one durable repetition
  std::uint64_t recovery_events = 1'000'000;
  double recovery_deadline = 20;  // seconds a recovery run may take before it stops and extrapolates
  bool baselines = true, durable = true, recovery = true, in_use = true;  // --parts
  std::uint64_t in_use_events = 1'000'000;  // --in-use-events: the journal in use's events before the run
  double slow_sync_ms = 2;  // the delay added to every sync for the slow-disk pass of 1 pipeline; 0: no such pass
};

// ---------------------------------------------------------------------------
// The file system under the scratch directory: statfs's magic (tmpfs and
// ramfs make fsync free) and the mount as /proc/self/mounts names it.

struct filesystem_info {
  std::string type = "unknown";  // from /proc/self/mounts, e.g. "ext4"
  std::string magic_name = "unknown";
  std::uint64_t magic = 0;
  std::string mount_point, device;
  bool memory_backed = false;  // tmpfs/ramfs: fsync costs nothing
};

filesystem_info filesystem_of(const std::string& dir) {
  filesystem_info fi;
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) == 0) {
    fi.magic = static_cast<std::uint64_t>(s.f_type);
    static const std::map<std::uint64_t, const char*> names = {
        {0xEF53, "ext2/ext3/ext4"}, {0x01021994, "tmpfs"},     {0x858458f6, "ramfs"},
        {0x58465342, "xfs"},        {0x9123683E, "btrfs"},     {0x794c7630, "overlayfs"},
        {0x6969, "nfs"},            {0x2fc12fc1, "zfs"},       {0xF2F52010, "f2fs"},
        {0x65735546, "fuse"},       {0x01021997, "9p"},        {0x5346544e, "ntfs"}};
    if (auto it = names.find(fi.magic); it != names.end()) fi.magic_name = it->second;
    fi.memory_backed = fi.magic == 0x01021994 || fi.magic == 0x858458f6;
  }
  std::error_code ec;
  const std::string real = fs::canonical(dir, ec).string();
  std::ifstream in("/proc/self/mounts");
  std::string device, mount, type, rest;
  while (in >> device >> mount >> type && std::getline(in, rest)) {
    const bool under = real == mount || mount == "/" ||
                       (real.rfind(mount, 0) == 0 && real.size() > mount.size() && real[mount.size()] == '/');
    if (under && mount.size() >= fi.mount_point.size()) {  // longest match; a later mount shadows
      fi.mount_point = mount;
      fi.device = device;
      fi.type = type;
    }
  }
  if (fi.type == "tmpfs" || fi.type == "ramfs") fi.memory_backed = true;
  return fi;
}

// fdatasync latency on the scratch file system: 40 overwrites of one 4 KiB
// block, each synced; {p50, p90} in ms. On a shared VM it swings between
// fast and slow with what else the host is writing.
std::pair<double, double> fsync_probe(const std::string& dir) {
  const std::string path = dir + "/fsync-probe";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return {-1, -1};
  std::vector<char> block(4096, 'x');
  std::vector<double> ms;
  bool ok = ::pwrite(fd, block.data(), block.size(), 0) == 4096 && ::fsync(fd) == 0;
  for (int k = 0; ok && k < 40; ++k) {
    block[0] = static_cast<char>('a' + k % 26);
    const auto t = clock_type::now();
    ok = ::pwrite(fd, block.data(), block.size(), 0) == 4096 && ::fdatasync(fd) == 0;
    ms.push_back(seconds_since(t) * 1e3);
  }
  ::close(fd);
  std::error_code ec;
  fs::remove(path, ec);
  if (!ok || ms.empty()) return {-1, -1};
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[ms.size() * 9 / 10]};
}

struct rate_run {
  double seconds = 0, cpu = 0;
  std::uint64_t count = 0, written = 0;
  double per_s() const { return seconds > 0 ? double(count) / seconds : 0; }
  double cpu_us_each() const { return count > 0 ? cpu * 1e6 / double(count) : 0; }
  double written_each() const { return count > 0 ? double(written) / double(count) : 0; }
};

// Times `insert(db, first, start)` (which returns the row after the last it wrote)
// on a fresh table prefilled like the journal's: rows, CPU and bytes written.
template <class Insert>
rate_run timed_inserts(const std::string& path, const row_source& rs, Insert insert, bool indexed = true) {
  remove_journal_files(path);
  rate_run out;
  {
    raw_sqlite db(path, indexed);
    const std::uint64_t first = db.prefill(path, rs, 0);
    settle(path);
    const auto start = clock_type::now();
    const double cpu0 = process_cpu_s();
    const std::uint64_t written0 = write_bytes();
    const std::uint64_t end = insert(db, first, start);
    out.seconds = seconds_since(start);
    out.cpu = process_cpu_s() - cpu0;
    out.written = write_bytes() - written0;
    out.count = end - first;
  }
  remove_journal_files(path);
  return out;
}

// (a) The ceiling: `rows` rows, 1,000 per transaction, or fewer if that
// takes longer than `seconds_max`; in the journal's table, or (`indexed`
// false) as plain rows.
rate_run sqlite_batched(const std::string& path, const row_source& rs, std::uint64_t rows, double seconds_max,
                        bool indexed = true) {
  return timed_inserts(
      path, rs,
      [&](raw_sqlite& db, std::uint64_t first, clock_type::time_point start) {
        std::uint64_t i = first;
        while (i < first + rows && seconds_since(start) < seconds_max) {
          db.step(db.begin);
          for (std::uint64_t k = 0; k < 1'000 && i < first + rows; ++k, ++i) db.insert_row(rs, i);
          db.step(db.commit);
        }
        return i;
      },
      indexed);
}

// (b) One commit per event (autocommit), for at least `seconds_min`.
rate_run sqlite_commit_per_event(const std::string& path, const row_source& rs, double seconds_min) {
  return timed_inserts(path, rs, [&](raw_sqlite& db, std::uint64_t first, clock_type::time_point start) {
    std::uint64_t i = first;
    while (i < first + 20 || seconds_since(start) < seconds_min)
      for (int k = 0; k < 10; ++k) db.insert_row(rs, i++);
    return i;
  });
}

// ---------------------------------------------------------------------------
// Durable transitions: supervisors on the SQLite journal actor.

struct durable_run {
  double seconds = 0, cpu = 0;
  std::uint64_t transitions = 0, commits = 0, events = 0, written = 0;
  double per_s() const { return seconds > 0 ? double(transitions) / seconds : 0; }
  double written_per_transition() const { return transitions > 0 ? double(written) / double(transitions) : 0; }
  double cpu_us_per_transition() const { return transitions > 0 ? cpu * 1e6 / double(transitions) : 0; }
  double events_per_commit() const { return commits > 0 ? double(events) / double(commits) : 0; }
  // The one writer: how much of the run it spent in its appends (wall), and
  // the CPU of those appends per event. Busy near 1 is the ceiling.
  double committer_busy_s = 0, committer_cpu_s = 0;
  double committer_busy() const { return seconds > 0 ? committer_busy_s / seconds : 0; }
  double committer_cpu_us_per_event() const { return events > 0 ? committer_cpu_s * 1e6 / double(events) : 0; }
};

// The figures every durable configuration reports, one value per repetition,
// and their medians under the names results.json gives them.
struct durable_series {
  std::vector<double> runs, cpu, written, epc, busy, committer_cpu;
  void add(const durable_run& d) {
    runs.push_back(d.per_s());
    cpu.push_back(d.cpu_us_per_transition());
    written.push_back(d.written_per_transition());
    epc.push_back(d.events_per_commit());
    busy.push_back(d.committer_busy());
    committer_cpu.push_back(d.committer_cpu_us_per_event());
  }
  double median() const { return summarize(runs).median; }
  json fields() const {
    return {{"transitions_per_s_median", median()},
            {"runs", runs},
            {"cpu_us_per_transition_median", summarize(cpu).median},
            {"bytes_written_per_transition_median", summarize(written).median},
            {"events_per_commit_median", summarize(epc).median},
            {"committer_busy_median", summarize(busy).median},
            {"committer_cpu_us_per_event_median", summarize(committer_cpu).median}};
  }
};

// The committer's commit timings so far (wall and CPU seconds in appends).
actors::commit_histogram committer_timings(caf::scoped_actor& self, const caf::actor& journal) {
  actors::commit_histogram h;
  self->request(journal, caf::infinite, actors::journal_metrics_atom::value)
      .receive([&](actors::journal_metrics& m) { h = m.commit; },
               [&](caf::error& err) { die("journal metrics: " + to_string(err)); });
  return h;
}

struct supervisor_batch {
  std::vector<caf::actor> sups;
  std::uint64_t expected_events = 0;  // the journal's event count once they are all durable
};

supervisor_batch spawn_pipelines(caf::actor_system& sys, const caf::actor& journal, const std::string& prefix,
                                 int pipelines, int rounds, std::uint64_t events_per_pipeline,
                                 std::uint64_t events_before, const std::shared_ptr<actors::local_workers>& workers) {
  auto spec = looping_spec(rounds);
  supervisor_batch b;
  b.expected_events = events_before + events_per_pipeline * static_cast<std::uint64_t>(pipelines);
  b.sups.reserve(static_cast<std::size_t>(pipelines));
  for (int p = 0; p < pipelines; ++p) {
    actors::supervisor_config sc;
    sc.pipeline = prefix + std::to_string(p);
    sc.spec = spec;
    sc.journal = journal;
    sc.workers = workers;
    b.sups.push_back(actors::spawn_supervisor(sys, sc));
  }
  return b;
}

// Polls the journal until it has committed `expected` events; its stats then.
std::vector<std::uint64_t> await_events(caf::scoped_actor& self, const caf::actor& journal, std::uint64_t expected) {
  std::uint64_t seen = 0;
  auto progress = clock_type::now();
  for (;;) {
    auto stats = journal_stats(self, journal);
    if (stats[1] >= expected) return stats;
    if (stats[1] != seen) {
      seen = stats[1];
      progress = clock_type::now();
    } else if (seconds_since(progress) > 30) {
      std::string why = "the journal reports no failure";
      self->request(journal, std::chrono::seconds(5), actors::journal_sync_atom::value)
          .receive([](std::uint64_t) {}, [&](caf::error& err) { why = to_string(err); });
      die("no progress for 30 s at " + std::to_string(seen) + " of " + std::to_string(expected) + " events (" + why +
          ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling, not a test
  }
}

// Every pipeline of the batch is done; the sum of their seqs.
std::uint64_t check_done(caf::scoped_actor& self, const supervisor_batch& b) {
  std::uint64_t transitions = 0;
  for (auto& s : b.sups) {
    system_state st;
    self->request(s, caf::infinite, actors::state_atom::value)
        .receive([&](system_state& x) { st = std::move(x); }, [&](caf::error& err) { die(to_string(err)); });
    if (outcome(st) != pipeline_outcome::done)
      die(std::string("a durable pipeline ended ") + to_string(outcome(st)) + " at seq " + std::to_string(st.seq()));
    transitions += st.seq();
  }
  for (auto& s : b.sups) self->send(s, actors::stop_atom::value);
  return transitions;
}

// `pipelines` supervisors run `rounds` rounds each on one fresh journal file
// (warmed up first: its WAL past the first checkpoint); over when the journal
// has committed every one of their events. `in_use`: on the journal already
// at `path` (in its own format), which is kept, grown by the run.
durable_run run_durable(caf::actor_system& sys, const std::string& path, int pipelines, int rounds,
                        std::uint64_t events_per_pipeline, std::uint64_t warmup_events_per_pipeline,
                        const std::shared_ptr<actors::local_workers>& workers,
                        std::vector<trace::sample>* traced = nullptr, bool in_use = false) {
  if (!in_use) remove_journal_files(path);
  auto store = open_journal(path, journal_options{});  // synchronous=FULL
  // The previous run's journal actor lets go of the file a moment after it
  // is down (its committer thread ends): the same file waits for it.
  for (int k = 0; in_use && !store && store.err().code == errc::owned && k < 10'000; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    store = open_journal(path, journal_options{});
  }
  if (!store) die(store.err().message);
  caf::scoped_actor self{sys};
  auto journal = actors::spawn_durable_journal(sys, std::shared_ptr<journal_store>(std::move(*store)));

  // Warm-up (untimed): batches of 100 one-pass pipelines until the WAL has
  // reached its steady size, and one batch more so that it has wrapped.
  // Ids of their own: a journal in use already holds the previous runs'.
  static int run_number = 0;
  const std::string run_id = in_use ? "run" + std::to_string(++run_number) + "-" : "";
  std::vector<std::uint64_t> before = journal_stats(self, journal);
  for (int k = 0, extra = 0; extra < 2; ++k) {
    if (wal_bytes(path) >= wal_steady_bytes) ++extra;
    auto w = spawn_pipelines(sys, journal, run_id + "w" + std::to_string(k) + "-", 100, 0, warmup_events_per_pipeline,
                             before[1], workers);
    before = await_events(self, journal, w.expected_events);
    check_done(self, w);
  }

  settle(path);
  durable_run out;
  const actors::commit_histogram timings0 = committer_timings(self, journal);
  const auto start = clock_type::now();
  const double cpu0 = process_cpu_s();
  const std::uint64_t written0 = write_bytes();
  if (traced) trace::start(*traced);
  auto b = spawn_pipelines(sys, journal, run_id + "p", pipelines, rounds, events_per_pipeline, before[1], workers);
  const auto after = await_events(self, journal, b.expected_events);
  out.seconds = seconds_since(start);
  if (traced) traced->resize(trace::stop());
  out.cpu = process_cpu_s() - cpu0;
  out.written = write_bytes() - written0;
  const actors::commit_histogram timings1 = committer_timings(self, journal);
  out.committer_busy_s = timings1.seconds_sum - timings0.seconds_sum;
  out.committer_cpu_s = timings1.cpu_seconds_sum - timings0.cpu_seconds_sum;

  // Untimed: every pipeline is done, and the journal holds exactly its events.
  out.transitions = check_done(self, b);
  out.commits = after[0] - before[0];
  out.events = after[1] - before[1];
  if (out.events != out.transitions || after[1] != b.expected_events)
    die("journal holds " + std::to_string(out.events) + " events of the run, its pipelines made " +
        std::to_string(out.transitions) + ", expected " + std::to_string(b.expected_events - before[1]));
  self->monitor(journal);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {});
  if (!in_use) remove_journal_files(path);
  return out;
}

// The timeline of one stage of a lone pipeline, from a traced run: the
// points in time order, cut into cycles at each start (a start, its run,
// its completion made durable and applied, up to the next start), and for
// every step between two consecutive points that most cycles take, the
// median time it took. Steps in the order the cycles pass them.
json stage_timeline(std::vector<trace::sample> points) {
  std::sort(points.begin(), points.end(), [](const auto& a, const auto& b) { return a.ns < b.ns; });
  struct step {
    std::vector<double> us;
    std::vector<double> offset_us;  // from the cycle's start: to order the steps
  };
  std::map<std::pair<trace::point, trace::point>, step> steps;
  std::vector<double> cycle_us;
  std::size_t cycles = 0;
  for (std::size_t k = 0; k < points.size();) {
    if (points[k].at != trace::point::start_sent) {
      ++k;
      continue;
    }
    std::size_t end = k + 1;
    while (end < points.size() && points[end].at != trace::point::start_sent) ++end;
    if (end == points.size()) break;  // the last cycle has no next start
    ++cycles;
    cycle_us.push_back(double(points[end].ns - points[k].ns) / 1e3);
    for (std::size_t i = k; i < end; ++i) {
      auto& s = steps[{points[i].at, points[i + 1].at}];
      s.us.push_back(double(points[i + 1].ns - points[i].ns) / 1e3);
      s.offset_us.push_back(double(points[i].ns - points[k].ns) / 1e3);
    }
    k = end;
  }
  std::vector<std::pair<double, json>> rows;
  for (auto& [key, s] : steps) {
    if (s.us.size() * 2 < cycles) continue;  // a step most stages do not take
    const std::string name = std::string(trace::point_names[static_cast<std::size_t>(key.first)]) + " -> " +
                             std::string(trace::point_names[static_cast<std::size_t>(key.second)]);
    rows.emplace_back(summarize(s.offset_us).median,
                      json{{"step", name}, {"median_us", summarize(s.us).median}, {"stages", s.us.size()}});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  json out = {{"stages", cycles}, {"stage_median_us", cycles ? summarize(cycle_us).median : 0.0}, {"steps", json::array()}};
  for (auto& r : rows) out["steps"].push_back(std::move(r.second));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  die_prefix = "journal_bench";
  options opt;
  bool pipelines_given = false, seconds_given = false, recovery_given = false, in_use_given = false;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    if (a == "--quick") opt.quick = true;
    else if (a == "--keep") opt.keep = true;
    else if (a == "--repetitions" && k + 1 < argc) opt.repetitions = std::max(1, std::atoi(argv[++k]));
    else if (a == "--pipelines" && k + 1 < argc) {
      opt.pipelines = {std::max(1, std::atoi(argv[++k]))};
      pipelines_given = true;
    } else if (a == "--threads" && k + 1 < argc) {
      opt.threads = static_cast<std::size_t>(std::max(1, std::atoi(argv[++k])));
    } else if (a == "--dir" && k + 1 < argc) {
      opt.dir = argv[++k];
    } else if (a == "--seconds" && k + 1 < argc) {
      opt.seconds = std::max(0.05, std::atof(argv[++k]));
      seconds_given = true;
    } else if (a == "--recovery-events" && k + 1 < argc) {
      opt.recovery_events = static_cast<std::uint64_t>(std::max(0LL, std::atoll(argv[++k])));
      recovery_given = true;
    } else if (a == "--recovery-deadline" && k + 1 < argc) {
      opt.recovery_deadline = std::max(0.1, std::atof(argv[++k]));
    } else if (a == "--slow-sync-ms" && k + 1 < argc) {
      opt.slow_sync_ms = std::max(0.0, std::atof(argv[++k]));
    } else if (a == "--parts" && k + 1 < argc) {
      const std::string parts = std::string(",") + argv[++k] + ",";
      opt.baselines = parts.find(",baselines,") != std::string::npos;
      opt.durable = parts.find(",durable,") != std::string::npos;
      opt.recovery = parts.find(",recovery,") != std::string::npos;
      opt.in_use = parts.find(",in_use,") != std::string::npos;
    } else if (a == "--in-use-events" && k + 1 < argc) {
      opt.in_use_events = static_cast<std::uint64_t>(std::max(0LL, std::atoll(argv[++k])));
      in_use_given = true;
    } else {
      std::cerr << "usage: journal_bench [--quick] [--repetitions N] [--pipelines N] [--threads N] [--dir PATH]"
                   " [--keep] [--seconds S] [--recovery-events N]\n"
                   "                     [--recovery-deadline S] [--parts baselines,durable,recovery,in_use]\n"
                   "                     [--in-use-events N]"
                   " [--slow-sync-ms MS]\n";
      return 2;
    }
  }
  if (opt.quick) {
    opt.repetitions = 1;
    if (!pipelines_given) opt.pipelines = {1, 100};
    if (!seconds_given) opt.seconds = 0.3;
    if (!recovery_given) opt.recovery_events = 20'000;
    if (!in_use_given) opt.in_use_events = 50'000;
  }
  const std::uint64_t batched_rows = opt.quick ? 20'000 : 100'000;
  const double batched_seconds_max = opt.quick ? 0.5 : 3.0;
  const double commit_seconds = opt.quick ? 0.3 : 2.0;

  // The scratch directory: fresh, on the file system being measured.
  std::error_code ec;
  const fs::path parent = opt.dir.empty() ? fs::current_path() : fs::path(opt.dir);
  const fs::path scratch = parent / ("journal_bench." + std::to_string(::getpid()));
  fs::create_directories(scratch, ec);
  if (ec) die("cannot create " + scratch.string() + ": " + ec.message());
  if (!opt.keep) scratch_to_remove = scratch.string();
  const filesystem_info fsi = filesystem_of(scratch.string());
  auto file = [&](const std::string& name) { return (scratch / name).string(); };

  caf::actor_system_config cfg;
  configure_bench_system(cfg, opt.threads);
  caf::actor_system sys{cfg};
  auto workers = noop_workers();

  const double load_start = load_average_1m();
  const auto fsync_start = fsync_probe(scratch.string());
  std::cerr << "journal_bench: " << std::thread::hardware_concurrency() << " cores, CAF scheduler threads "
            << sys.scheduler().num_workers() << ", SQLite " << sqlite3_libversion() << ", WAL synchronous=FULL"
            << (opt.quick ? " (quick)" : "") << "\n"
            << "scratch " << scratch.string() << " on " << fsi.type << " (" << fsi.device << " at "
            << fsi.mount_point << ", statfs " << fsi.magic_name << "), load average " << load_start << "\n";
  std::fprintf(stderr, "fdatasync of 4 KiB: p50 %.3f ms, p90 %.3f ms\n", fsync_start.first, fsync_start.second);
  if (fsi.memory_backed)
    std::cerr << "WARNING: the scratch directory is in memory (" << fsi.type
              << "): fsync costs nothing, so these figures do not mean disk\n";

  // Events per pipeline for a number of rounds (deterministic: a chain),
  // 13 x (rounds + 1).
  std::map<int, std::vector<event>> histories;
  auto history_for = [&](int rounds) -> const std::vector<event>& {
    auto it = histories.find(rounds);
    if (it == histories.end()) {
      auto h = bench::record_history(sys, rounds, workers);
      if (!h) die(h.err().message);
      it = histories.emplace(rounds, std::move(*h)).first;
    }
    return it->second;
  };

  // Baselines: plain SQLite on the same file system, the journal's table.
  json baselines = nullptr;
  double batched_in_order = 0, batched_interleaved = 0, batched_plain = 0, single = 0;
  const auto spec_for_bodies = looping_spec(50);
  const auto& body_history = history_for(50);
  const row_source in_order = make_row_source(body_history, *spec_for_bodies, 1);
  const row_source interleaved = make_row_source(body_history, *spec_for_bodies, 1'000);
  if (opt.baselines) {
    std::vector<rate_run> a_runs, b_runs, c_runs, p_runs;
    for (int r = 0; r < opt.repetitions; ++r) {
      a_runs.push_back(sqlite_batched(file("ceiling.db"), in_order, batched_rows, batched_seconds_max));
      b_runs.push_back(sqlite_batched(file("ceiling.db"), interleaved, batched_rows, batched_seconds_max));
      p_runs.push_back(sqlite_batched(file("ceiling.db"), interleaved, batched_rows, batched_seconds_max, false));
      c_runs.push_back(sqlite_commit_per_event(file("single.db"), in_order, commit_seconds));
    }
    auto summary = [](const std::vector<rate_run>& v, json extra) {
      std::vector<double> rates, cpu, written;
      std::uint64_t rows = 0;
      for (const auto& x : v) {
        rates.push_back(x.per_s());
        cpu.push_back(x.cpu_us_each());
        written.push_back(x.written_each());
        rows = std::max(rows, x.count);
      }
      extra["rows_per_s_median"] = summarize(rates).median;
      extra["runs"] = rates;
      extra["rows_max"] = rows;
      extra["cpu_us_per_row_median"] = summarize(cpu).median;
      extra["bytes_written_per_row_median"] = summarize(written).median;
      return extra;
    };
    json a = summary(a_runs, {{"rows_per_transaction", 1'000}, {"rows_wanted", batched_rows},
                              {"seconds_max", batched_seconds_max}, {"pipelines", 1},
                              {"what", "one pipeline: (pipeline, seq) keys arrive in order"}});
    json b = summary(b_runs, {{"rows_per_transaction", 1'000}, {"rows_wanted", batched_rows},
                              {"seconds_max", batched_seconds_max}, {"pipelines", 1'000},
                              {"what", "rows round-robin over 1,000 pipelines, as the journal of 1,000 concurrent "
                                       "pipelines sees them"}});
    json plain = summary(p_runs, {{"rows_per_transaction", 1'000}, {"rows_wanted", batched_rows},
                                  {"seconds_max", batched_seconds_max}, {"pipelines", 1'000},
                                  {"what", "the same rows round-robin over 1,000 pipelines, in the table without its "
                                           "UNIQUE(pipeline, seq) index: SQLite's ceiling for plain rows"}});
    json c = summary(c_runs, {{"seconds_min", commit_seconds},
                              {"what", "autocommit: one transaction per row, one pipeline (as the 1-pipeline run)"}});
    batched_in_order = a["rows_per_s_median"].get<double>();
    batched_interleaved = b["rows_per_s_median"].get<double>();
    batched_plain = plain["rows_per_s_median"].get<double>();
    single = c["rows_per_s_median"].get<double>();
    baselines = {{"sqlite_batched_in_order", a},
                 {"sqlite_batched_interleaved", b},
                 {"sqlite_batched_plain", plain},
                 {"sqlite_commit_per_event", c},
                 {"table", "the journal's events table (same columns, INTEGER PRIMARY KEY, UNIQUE(pipeline, seq)); "
                           "WAL, synchronous=FULL, default cache; prepared insert; a fresh file per run"},
                 {"body_bytes_mean", interleaved.body_bytes_mean}};
    std::cerr << "\nbaseline: plain SQLite, the journal's table        rows/s (median)  CPU us/row  bytes written/row\n";
    for (auto* name : {"sqlite_batched_in_order", "sqlite_batched_interleaved", "sqlite_batched_plain",
                       "sqlite_commit_per_event"}) {
      const json& j = baselines[name];
      const char* label = std::strcmp(name, "sqlite_batched_in_order") == 0 ? "1,000 rows/transaction, 1 pipeline"
                          : std::strcmp(name, "sqlite_batched_interleaved") == 0
                              ? "1,000 rows/transaction, 1,000 pipelines"
                          : std::strcmp(name, "sqlite_batched_plain") == 0 ? "the same, plain rows (no index)"
                                                                            : "one commit per event";
      std::fprintf(stderr, "%-48s  %15.0f  %10.2f  %17.0f\n", label, j["rows_per_s_median"].get<double>(),
                   j["cpu_us_per_row_median"].get<double>(), j["bytes_written_per_row_median"].get<double>());
    }
    std::fprintf(stderr, "(bodies: real encoded events, %.0f bytes on average)\n", interleaved.body_bytes_mean);
  }
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };

  // Durable transitions.
  json results = json::array();
  std::map<int, double> durable_by_pipelines;
  double one_pipeline_paired_ratio = -1, one_pipeline_slow_ratio = -1;
  // Rounds for `pipelines` pipelines to last about `seconds` at `rate`: a
  // pipeline makes 13 x (rounds + 1) transitions (rounds 0 is one pass), and
  // a stage starts at most stage_attempts_max times, so at most 998.
  auto rounds_for = [](int pipelines, double rate, double seconds) {
    const double most = double(stage_attempts_max) - 2;
    return static_cast<int>(std::clamp(std::round(rate * seconds / (13.0 * pipelines)) - 1, 0.0, most));
  };
  if (opt.durable) {
    std::cerr << "\npipelines  rounds  transitions/rep  transitions/s (median)  events/commit  vs 1-commit/event"
                 "  vs batched (1 / 1,000 pipelines)  CPU us/transition  bytes written/transition\n";
    // The rate a configuration is expected to reach, to size its runs: the
    // previous configuration's (rates grow with pipelines), or one commit per
    // event's for a first of one pipeline (for more, that would be far too
    // low: `--pipelines 1000` alone ran one pass of 13,000 transitions).
    double estimate = opt.pipelines.front() == 1 ? single : 0;  // 0: unknown, so always a pilot
    const std::uint64_t warmup_events = history_for(0).size();
    // One commit per event, the half-length run that a 1-pipeline repetition sits between.
    auto one_commit = [&] { return sqlite_commit_per_event(file("single.db"), in_order, commit_seconds / 2).per_s(); };
    for (int pipelines : opt.pipelines) {
      const std::string path = file("durable-" + std::to_string(pipelines) + ".db");
      // Pilot (also a warm-up) of about 0.5 s, unless one round already takes longer.
      const int pilot_rounds = estimate > 0 ? rounds_for(pipelines, estimate, std::min(0.5, opt.seconds / 2)) : 0;
      json pilot_json = nullptr;
      int rounds = rounds_for(pipelines, estimate, opt.seconds);
      if (rounds > 0 || estimate <= 0) {
        auto pilot = run_durable(sys, path, pipelines, pilot_rounds, history_for(pilot_rounds).size(), warmup_events,
                                 workers);
        rounds = rounds_for(pipelines, pilot.per_s(), opt.seconds);
        pilot_json = {{"rounds", pilot_rounds}, {"transitions_per_s", pilot.per_s()}};
      }
      const std::uint64_t per_pipeline = history_for(rounds).size();
      durable_series series;
      std::vector<double> commits_per_s, paired, paired_ratio, probe, secs;
      for (int r = 0; r < opt.repetitions; ++r) {
        // One pipeline against one commit per event: fsync latency drifts with
        // whatever else the disk is doing (by 10x on a shared VM), so each
        // repetition sits between two one-commit-per-event runs, and is
        // compared with their mean.
        const bool pair = pipelines == 1 && opt.baselines;
        probe.push_back(fsync_probe(scratch.string()).first);
        const double before = pair ? one_commit() : 0;
        auto d = run_durable(sys, path, pipelines, rounds, per_pipeline, warmup_events, workers);
        if (pair) {
          paired.push_back((before + one_commit()) / 2);
          paired_ratio.push_back(ratio(d.per_s(), paired.back()));
        }
        series.add(d);
        secs.push_back(d.seconds);
        commits_per_s.push_back(d.seconds > 0 ? double(d.commits) / d.seconds : 0);
      }
      const double med = series.median();
      estimate = std::max(estimate, med);
      durable_by_pipelines[pipelines] = med;
      const std::uint64_t per_rep = per_pipeline * static_cast<std::uint64_t>(pipelines);
      json row = series.fields();
      row.update(json{{"pipelines", pipelines},
                      {"rounds", rounds},
                      {"transitions_per_repetition", per_rep},
                      {"runs_seconds", secs},
                      {"fdatasync_4k_p50_ms_before_each_run", probe},
                      {"commits_per_s_median", summarize(commits_per_s).median},
                      {"ratio_to_commit_per_event", ratio(med, single)},
                      {"paired_commit_per_event",
                       paired.empty() ? json(nullptr)
                                      : json{{"rows_per_s_median", summarize(paired).median},
                                             {"runs", paired},
                                             {"ratio_per_repetition", paired_ratio},
                                             {"ratio_median", summarize(paired_ratio).median}}},
                      {"ratio_to_batched_in_order", ratio(med, batched_in_order)},
                      {"ratio_to_batched_interleaved", ratio(med, batched_interleaved)},
                      {"ratio_to_batched_plain", ratio(med, batched_plain)},
                      {"pilot", pilot_json}});
      results.push_back(std::move(row));
      if (!paired_ratio.empty()) one_pipeline_paired_ratio = summarize(paired_ratio).median;
      std::fprintf(stderr, "%9d  %6d  %15llu  %22.0f  %13.1f  %17.3f  %15.3f / %.3f  %17.2f  %24.0f\n", pipelines,
                   rounds, static_cast<unsigned long long>(per_rep), med, summarize(series.epc).median,
                   ratio(med, single), ratio(med, batched_in_order), ratio(med, batched_interleaved),
                   summarize(series.cpu).median, summarize(series.written).median);
      std::fprintf(stderr, "           (the committer: busy %.0f%% of the run in its appends, %.2f us of its CPU an event)\n",
                   100 * summarize(series.busy).median, summarize(series.committer_cpu).median);
      if (!paired.empty())
        std::fprintf(stderr, "           (paired: one commit per event %.0f rows/s around each repetition; "
                     "ratio %.3f, median of pairs)\n", summarize(paired).median, summarize(paired_ratio).median);
      if (pipelines != 1) continue;

      // Where a stage's time goes: one more run, traced (untimed).
      std::vector<trace::sample> points(200'000);
      run_durable(sys, path, 1, rounds, per_pipeline, warmup_events, workers, &points);
      json timeline = stage_timeline(std::move(points));
      std::fprintf(stderr, "           timeline of one stage (median of %llu stages: %.1f us):\n",
                   static_cast<unsigned long long>(timeline["stages"].get<std::size_t>()),
                   timeline["stage_median_us"].get<double>());
      for (const auto& s : timeline["steps"])
        std::fprintf(stderr, "             %-38s %8.1f us\n", s["step"].get<std::string>().c_str(),
                     s["median_us"].get<double>());
      results.back()["timeline"] = std::move(timeline);

      // The same pairs on a slower disk: every sync of every SQLite file
      // (ours and the baseline's) followed by a fixed sleep.
      if (opt.slow_sync_ms <= 0 || !opt.baselines) continue;
      std::vector<double> slow_runs, slow_paired, slow_ratio, slow_cpu, slow_epc;
      {
        slow_sync slow(std::chrono::microseconds(static_cast<long long>(opt.slow_sync_ms * 1e3)));
        const double first = one_commit();
        const int slow_rounds = rounds_for(1, 2 * first, opt.seconds);
        const std::uint64_t slow_per_pipeline = history_for(slow_rounds).size();
        double before = first;
        for (int r = 0; r < opt.repetitions; ++r) {
          auto d = run_durable(sys, path, 1, slow_rounds, slow_per_pipeline, warmup_events, workers);
          const double after = one_commit();
          slow_paired.push_back((before + after) / 2);
          slow_ratio.push_back(ratio(d.per_s(), slow_paired.back()));
          slow_runs.push_back(d.per_s());
          slow_cpu.push_back(d.cpu_us_per_transition());
          slow_epc.push_back(d.events_per_commit());
          before = after;
        }
        results.back()["slow_sync"] = {
            {"sync_delay_ms", opt.slow_sync_ms},
            {"how", "an SQLite VFS wrapping the default one sleeps this long after every completed xSync, for every "
                    "file opened meanwhile (the journal's and the baseline's alike): a disk whose fsync takes that "
                    "much longer than this one's"},
            {"rounds", slow_rounds},
            {"transitions_per_s_median", summarize(slow_runs).median},
            {"runs", slow_runs},
            {"cpu_us_per_transition_median", summarize(slow_cpu).median},
            {"events_per_commit_median", summarize(slow_epc).median},
            {"paired_commit_per_event", {{"rows_per_s_median", summarize(slow_paired).median},
                                         {"runs", slow_paired},
                                         {"ratio_per_repetition", slow_ratio},
                                         {"ratio_median", summarize(slow_ratio).median}}}};
      }
      one_pipeline_slow_ratio = summarize(slow_ratio).median;
      std::fprintf(stderr, "        1  (sync + %.1f ms) %.0f transitions/s, %.1f events/commit; one commit per event "
                   "%.0f rows/s around each; ratio %.3f, median of pairs\n", opt.slow_sync_ms,
                   summarize(slow_runs).median, summarize(slow_epc).median, summarize(slow_paired).median,
                   one_pipeline_slow_ratio);
    }
  }

  // 1,000 pipelines on a journal in use: one that already holds
  // --in-use-events events of pipelines that ran before (about 100 events
  // each, written side by side), in each format. Format 1's index grows with
  // it, and a commit of 1,000 pipelines' rows writes a page of it per
  // pipeline; format 2 writes at the end of its table and a few pages of heads.
  json in_use = nullptr;
  if (opt.in_use && opt.in_use_events > 0) {
    const auto& tmpl = history_for(7);  // 104 events
    const std::uint64_t before_pipelines = std::max<std::uint64_t>(1, opt.in_use_events / tmpl.size());
    const std::uint64_t warmup_events = history_for(0).size();
    json formats = json::array();
    std::map<int, double> by_format;
    std::fprintf(stderr, "\n1,000 pipelines on a journal in use (%llu events of %llu pipelines before):\n",
                 static_cast<unsigned long long>(before_pipelines * tmpl.size()),
                 static_cast<unsigned long long>(before_pipelines));
    for (int format : {1, 2}) {
      const std::string path = file("in-use-" + std::to_string(format) + ".db");
      journal_options jopt;
      jopt.create_format = format;
      const auto built = build_recovery_journal(path, tmpl, before_pipelines, jopt);
      // Pilot: one pass of each pipeline, to size the runs.
      auto pilot = run_durable(sys, path, 1'000, 0, history_for(0).size(), warmup_events, workers, nullptr, true);
      const int rounds = rounds_for(1'000, pilot.per_s(), opt.seconds);
      durable_series series;
      for (int r = 0; r < opt.repetitions; ++r)
        series.add(run_durable(sys, path, 1'000, rounds, history_for(rounds).size(), warmup_events, workers, nullptr,
                               true));
      std::error_code size_ec;
      const double bytes_after = double(fs::file_size(path, size_ec));
      remove_journal_files(path);
      by_format[format] = series.median();
      json row = series.fields();
      row.update(json{{"format", format},
                      {"rounds", rounds},
                      {"build_seconds", built.seconds},
                      {"file_bytes_before", built.file_bytes},
                      {"file_bytes_after", bytes_after}});
      formats.push_back(std::move(row));
      std::fprintf(stderr, "  format %d: %.0f transitions/s (median of %d), %.2f CPU us and %.0f bytes written a "
                   "transition, %.1f events/commit\n", format, by_format[format], opt.repetitions,
                   summarize(series.cpu).median, summarize(series.written).median, summarize(series.epc).median);
    }
    in_use = {{"events_before", before_pipelines * tmpl.size()},
              {"pipelines_before", before_pipelines},
              {"how", "the journal is first filled through journal_store::append (batches of 10,000, pipelines of "
                      "104 events side by side, like the recovery journal), then 1,000 supervisors run on it as in "
                      "results (pilot of one pass, then repetitions on the same file, which grows)"},
              {"formats", formats},
              {"ratio_format_2_to_1", by_format[1] > 0 ? by_format[2] / by_format[1] : 0}};
    std::fprintf(stderr, "  format 2 / format 1: %.2f\n", in_use["ratio_format_2_to_1"].get<double>());
  }

  // Recovery.
  json recovery = nullptr;
  double recovery_cold = -1, recovery_warm = -1;
  if (opt.recovery && opt.recovery_events > 0) {
    const auto& tmpl = history_for(77);  // about 1,000 events a pipeline
    const std::uint64_t pipelines =
        std::max<std::uint64_t>(1, (opt.recovery_events + tmpl.size() - 1) / tmpl.size());
    const std::string path = file("recovery.db");
    const auto built = build_recovery_journal(path, tmpl, pipelines);
    std::vector<recovery_run> warm, cold;
    // Warm: the file was just written or read, so it is in the page cache.
    // Cold once (the slowest part of the run): this file's pages dropped first.
    // A run that hits the deadline is the last warm one.
    for (int r = 0; r < opt.repetitions && (warm.empty() || warm.back().complete); ++r)
      warm.push_back(recover(path, opt.recovery_deadline));
    evict_from_page_cache(path);
    cold.push_back(recover(path, opt.recovery_deadline));
    for (const auto& r : warm)
      if (r.events_total != built.events || (r.complete && r.events != built.events))
        die("recovery read " + std::to_string(r.events) + " events of " + std::to_string(r.events_total));
    const bool partial = !warm.back().complete || !cold.back().complete;
    json w = recovery_json(warm), c = recovery_json(cold);
    recovery_warm = w["seconds_median"].get<double>();
    recovery_cold = c["seconds_median"].get<double>();
    recovery = {{"events", built.events},
                {"pipelines", built.pipelines},
                {"events_per_pipeline", built.events_per_pipeline},
                {"layout", "pipelines interleaved event by event (as concurrent pipelines write them)"},
                {"file_bytes", built.file_bytes},
                {"build", {{"seconds", built.seconds},
                           {"append_seconds", built.append_seconds},
                           {"append_events_per_s", built.append_seconds > 0 ? double(built.events) / built.append_seconds : 0},
                           {"batch_events", 10'000},
                           {"how", "template history of one pipeline (77 rounds) copied per pipeline, every event "
                                   "applied by the reducer, journal_store::append in batches of 10,000"}}},
                {"steps", "open_journal(read_only) + pipelines() + history() of each + replay() of each"},
                {"deadline_seconds", opt.recovery_deadline},
                {"seconds_means", "per run: the time to recover every pipeline; a run stopped at the deadline "
                                  "reports its open+list time plus the pipelines it read scaled to all of them "
                                  "(runs_complete false; runs_measured_seconds is what it actually took)"},
                {"warm", w},
                {"cold", c},
                {"cold_means", "one run after the file's pages were dropped from the page cache (fsync + "
                               "posix_fadvise DONTNEED); see file_resident_fraction_before"}};
    std::fprintf(stderr,
                 "\nrecovery: %llu events in %llu pipelines (%.0f MB; built in %.1f s, journal_store::append "
                 "%.0f events/s in batches of 10,000)\n",
                 static_cast<unsigned long long>(built.events), static_cast<unsigned long long>(built.pipelines),
                 built.file_bytes / 1e6, built.seconds,
                 built.append_seconds > 0 ? double(built.events) / built.append_seconds : 0);
    for (auto* which : {"warm", "cold"}) {
      const json& j = recovery[which];
      std::fprintf(stderr,
                   "  %s page cache: %.2f s%s (%.0f events/s): open+list %.2f s, history %.2f s, replay %.2f s\n",
                   which, j["seconds_median"].get<double>(), partial ? " (extrapolated)" : "",
                   j["events_per_s_median"].get<double>(), j["open_and_list_seconds_median"].get<double>(),
                   j["history_seconds_median"].get<double>(), j["replay_seconds_median"].get<double>());
    }
    if (partial)
      std::fprintf(stderr, "  (stopped at the %.0f s deadline: %llu of %llu pipelines read; the time for all of "
                   "them extrapolated from those)\n", opt.recovery_deadline,
                   static_cast<unsigned long long>(cold.back().pipelines),
                   static_cast<unsigned long long>(built.pipelines));
    remove_journal_files(path);
  }

  const double load_end = load_average_1m();
  const auto fsync_end = fsync_probe(scratch.string());
  std::fprintf(stderr, "\nfdatasync of 4 KiB at the end: p50 %.3f ms, p90 %.3f ms\n", fsync_end.first, fsync_end.second);
  if (std::max(load_start, load_end) > double(std::thread::hardware_concurrency()))
    std::fprintf(stderr, "\nWARNING: load average %.2f at the start, %.2f at the end, over %u cores: other processes "
                 "competed for the CPU, so the figures are pessimistic\n", load_start, load_end,
                 std::thread::hardware_concurrency());

  // Targets.
  auto target = [](bool measured, double value, double goal, bool at_least) -> json {
    if (!measured) return {{"target", goal}, {"measured", nullptr}, {"met", nullptr}};
    return {{"target", goal}, {"measured", value}, {"met", at_least ? value >= goal : value <= goal}};
  };
  const bool have1 = durable_by_pipelines.count(1) > 0, have1000 = durable_by_pipelines.count(1'000) > 0;
  const bool full_recovery = recovery_cold >= 0 && opt.recovery_events >= 1'000'000;
  json targets = {
      {"one_pipeline_vs_commit_per_event_paired",
       target(one_pipeline_paired_ratio >= 0, one_pipeline_paired_ratio, 1.5, true)},
      {"one_pipeline_slow_sync_vs_commit_per_event_paired",
       target(one_pipeline_slow_ratio >= 0, one_pipeline_slow_ratio, 1.5, true)},
      {"one_pipeline_vs_commit_per_event_medians",
       target(have1 && single > 0, have1 && single > 0 ? durable_by_pipelines[1] / single : 0, 1.5, true)},
      {"pipelines_1000_transitions_per_s",
       target(have1000, have1000 ? durable_by_pipelines[1'000] : 0, 300'000, true)},
      {"pipelines_1000_vs_plain_rows_ceiling",
       target(have1000 && batched_plain > 0, have1000 && batched_plain > 0 ? durable_by_pipelines[1'000] / batched_plain : 0,
              0.35, true)},
      {"recovery_1m_events_seconds_cold", target(full_recovery, recovery_cold, 5.0, false)},
      {"recovery_1m_events_seconds_warm", target(full_recovery, recovery_warm, 5.0, false)}};
  std::cerr << "\ntargets:\n";
  for (auto& [name, t] : targets.items()) {
    std::cerr << "  " << name << ": target " << t["target"].dump() << ", measured "
              << (t["measured"].is_null() ? std::string("not measured") : t["measured"].dump()) << ", "
              << (t["met"].is_null() ? "n/a" : t["met"].get<bool>() ? "met" : "MISSED") << "\n";
  }

#ifdef NDEBUG
  const bool assertions = false;
#else
  const bool assertions = true;
#endif
  json out = {
      {"benchmark", "journal"},
      {"machine", {{"cores", std::thread::hardware_concurrency()},
                   {"cpu", cpu_model()},
                   {"scheduler_threads", sys.scheduler().num_workers()},
                   {"sqlite_version", sqlite3_libversion()},
                   {"assertions", assertions},
                   {"load_average_1m", {{"start", load_start}, {"end", load_end}}},
                   {"fdatasync_4k_ms", {{"start", {{"p50", fsync_start.first}, {"p90", fsync_start.second}}},
                                        {"end", {{"p50", fsync_end.first}, {"p90", fsync_end.second}}}}},
                   {"filesystem", {{"dir", scratch.string()},
                                   {"type", fsi.type},
                                   {"statfs_magic", fsi.magic},
                                   {"statfs_name", fsi.magic_name},
                                   {"device", fsi.device},
                                   {"mount_point", fsi.mount_point},
                                   {"memory_backed_fsync_free", fsi.memory_backed}}}}},
      {"config", {{"quick", opt.quick},
                  {"repetitions", opt.repetitions},
                  {"journal", "journal_store (WAL, synchronous=FULL) behind the group-committing durable_journal "
                              "actor (detached); a fresh file per repetition"},
                  {"spec", "6-stage chain looping through on_failure: 13 x (rounds + 1) transitions a pipeline"},
                  {"handler", "non-blocking no-op"},
                  {"seconds_per_repetition_target", opt.seconds},
                  {"end_of_run", "the journal reports every expected event committed (polled every 2 ms)"},
                  {"bytes_written", "/proc/self/io write_bytes over the run (the whole process: WAL, checkpoints)"},
                  {"steady_state", "every timed run starts with the WAL past its first checkpoint (untimed warm-up: "
                                   "100-pipeline batches, or 1,000-row transactions for plain SQLite) and after "
                                   "syncfs"},
                  {"pairing", "each 1-pipeline repetition runs between two one-commit-per-event runs "
                              "(results[pipelines=1].paired_commit_per_event)"}}},
      {"baselines", baselines},
      {"results", results},
      {"recovery", recovery},
      {"in_use", in_use},
      {"targets", targets}};
  std::cout << out.dump(2) << "\n";

  if (!opt.keep) fs::remove_all(scratch, ec);
  return 0;
}
