// What cluster_bench needs besides the workloads it measures: fresh
// databases in the PostgreSQL cluster it is given, the CPU time of that
// cluster's server processes, and `dairector serve` child processes.
//
// Statements go through the PostgreSQL journal's own libpq wrapper
// (journal/postgresql/pg_connection.hpp): the baseline's parameters are
// encoded exactly as the journal's, and messages are scrubbed of passwords.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "journal_workload.hpp"
#include "pg_connection.hpp"

namespace dairector::bench {

/// `uri` naming the database `db` instead of its own (as tests/apps/cluster_test.sh's `database` does).
inline std::string uri_with_database(const std::string& uri, const std::string& db) {
  static const std::regex path(R"(^(postgres(ql)?://[^/?]*)(/[^?]*)?)");
  std::smatch m;
  if (!std::regex_search(uri, m, path)) die("--pg: not a postgresql:// URI");
  return m[1].str() + "/" + db + uri.substr(static_cast<std::size_t>(m[0].length()));
}

/// Wall-clock Unix milliseconds: what the servers stamp events with (same machine, same clock).
inline std::int64_t unix_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

/// The PostgreSQL cluster the benchmark was given: fresh databases in it
/// (dropped at the end), and its server processes' CPU time.
class pg_cluster {
 public:
  explicit pg_cluster(std::string uri) : uri_(std::move(uri)), admin_(uri_, {}) {
    if (auto why = admin_.ensure()) die("--pg: cannot connect: " + *why);
  }
  ~pg_cluster() {
    for (const auto& db : made_) drop(db);
  }
  pg_cluster(const pg_cluster&) = delete;
  pg_cluster& operator=(const pg_cluster&) = delete;

  /// A new empty database (any left by an earlier run of the same name goes first); its URI.
  std::string fresh(const std::string& name) {
    const std::string db = "cluster_bench_" + std::to_string(::getpid()) + "_" + name;
    drop(db);
    must("CREATE DATABASE " + db);
    made_.insert(db);
    return uri_with_database(uri_, db);
  }

  /// Drops a database made by `fresh`, ending its connections (servers killed just now).
  void drop(const std::string& db) { admin_.run(("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)").c_str()); }

  std::string version() {
    auto a = must("SHOW server_version");
    return a.count() > 0 ? std::string(a.text(0, 0)) : "unknown";
  }

  /// CPU seconds used so far by the database's server processes that
  /// pg_stat_activity lists (backends, WAL writer, checkpointer...), read
  /// from /proc: pid -> seconds. Empty when the server is not on this
  /// machine (or /proc does not show them).
  std::map<int, double> server_cpu() {
    std::map<int, double> out;
    auto a = admin_.run("SELECT pid FROM pg_stat_activity");
    if (!a.ok()) return out;
    for (int k = 0; k < a.count(); ++k) {
      const int pid = static_cast<int>(a.integer(k, 0));
      if (auto s = process_cpu_s_of(pid); s >= 0) out[pid] = s;
    }
    return out;
  }

  /// The CPU seconds the server processes used between two `server_cpu`
  /// readings (processes in both), or -1 when none could be read.
  static double cpu_between(const std::map<int, double>& before, const std::map<int, double>& after) {
    if (before.empty() || after.empty()) return -1;
    double s = 0;
    for (const auto& [pid, cpu] : after)
      if (auto it = before.find(pid); it != before.end()) s += cpu - it->second;
    return s;
  }

  pg::answer must(const std::string& sql) {
    auto a = admin_.run(sql.c_str());
    if (!a.ok()) die(sql + ": " + a.why);
    return a;
  }

 private:
  static double process_cpu_s_of(int pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto paren = text.rfind(')');  // the command name may hold spaces
    if (paren == std::string::npos || paren + 2 > text.size()) return -1;
    std::istringstream fields(text.substr(paren + 2));
    std::string skip;
    for (int k = 3; k < 14; ++k) fields >> skip;  // fields 3..13
    unsigned long long utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return -1;  // fields 14, 15
    return double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
  }

  std::string uri_;
  pg::connection admin_;
  std::set<std::string> made_;
};

// ---------------------------------------------------------------------------
// `dairector serve` processes, killed with SIGKILL on purpose.

/// The pids of the children still running: SIGKILLed when the benchmark
/// exits, however it exits (die() calls exit, which runs atexit handlers).
inline std::set<pid_t>& live_children() {
  static std::set<pid_t> pids;
  return pids;
}

inline void kill_live_children() {
  for (pid_t p : live_children()) {
    ::kill(p, SIGKILL);
    ::waitpid(p, nullptr, 0);
  }
  live_children().clear();
}

/// A child process: argv[0] with stdin from /dev/null and its output into
/// `log`. It gets SIGTERM from the kernel if the benchmark dies first.
inline pid_t start_child(const std::vector<std::string>& argv, const std::string& log) {
  std::string why;
  const pid_t pid = spawn_logged(argv, log, why);
  if (pid < 0) die(why);
  live_children().insert(pid);
  return pid;
}

/// True once the child has exited (it is then reaped).
inline bool child_exited(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) != pid) return false;
  live_children().erase(pid);
  return true;
}

/// SIGKILL and reap.
inline void kill_child(pid_t pid) {
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  live_children().erase(pid);
}

/// SIGTERM (a clean stop), up to 10 s, then SIGKILL.
inline void stop_child(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int k = 0; k < 1'000; ++k) {
    if (child_exited(pid)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill_child(pid);
}

/// The last lines of a log, for error messages.
inline std::string log_tail(const std::string& path, std::size_t lines = 5) {
  std::istringstream in(read_text(path));
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string tail;
  for (std::size_t k = all.size() > lines ? all.size() - lines : 0; k < all.size(); ++k) tail += "\n    " + all[k];
  return tail;
}

// ---------------------------------------------------------------------------

/// Failover time (cluster_failover.cpp): two `dairector serve` processes of
/// `dairector` on a fresh database, `kills` SIGKILLs of the owner of a
/// pipeline whose stage always runs, alternating; the time from each kill to
/// the first event the other server writes for it. Its JSON.
json measure_failover(pg_cluster& cluster, const std::string& dairector, const std::string& scratch,
                      std::int64_t lease_ms, int kills);

}  // namespace dairector::bench
