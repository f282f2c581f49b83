// What every transition benchmark needs besides the thing it measures: the
// summary of repeated runs, a description of the machine and the build, and
// strict parsing of numeric flags. Benchmarks may read clocks; the core may not.
#pragma once

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <future>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "build_info.hpp"

#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#endif

namespace dairector::bench {

/// Median, min and max of repeated measurements (rates, in units per second).
struct summary {
  double median = 0;
  double min = 0;
  double max = 0;
};

inline summary summarize(std::vector<double> runs) {
  summary s;
  if (runs.empty()) return s;
  std::sort(runs.begin(), runs.end());
  const std::size_t n = runs.size();
  s.median = n % 2 == 1 ? runs[n / 2] : (runs[n / 2 - 1] + runs[n / 2]) / 2;
  s.min = runs.front();
  s.max = runs.back();
  return s;
}

inline std::string compiler_name() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

/// The CPU model as the kernel names it, or "unknown".
inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown";
}

/// CPU time consumed by the calling thread, in seconds. Beside steady_clock it
/// tells what a run cost when other processes took turns on the same core:
/// time spent descheduled is not counted (cache pollution from them still is).
inline double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// The 1-minute load average, or -1. Above the core count, other processes
/// were competing for this one's core: the figures are then pessimistic.
inline double load_average_1m() {
  std::ifstream in("/proc/loadavg");
  double load = -1;
  in >> load;
  return in ? load : -1;
}

inline nlohmann::json machine_json() {
#ifdef NDEBUG
  const bool assertions = false;
#else
  const bool assertions = true;
#endif
  return {{"cores", std::thread::hardware_concurrency()},
          {"cpu", cpu_model()},
          {"compiler", compiler_name()},
          {"build_type", build_type},
          {"cxx_flags", cxx_flags},
          {"assertions", assertions},
          {"threads_used", 1}};
}

/// True while glibc believes the process has one thread. libstdc++ then
/// updates shared_ptr counts with plain instructions instead of atomic ones,
/// which would flatter the reducer: a real Dairector process runs CAF's
/// threads, so every count it changes is atomic.
inline bool process_is_single_threaded() {
#if __has_include(<sys/single_threaded.h>)
  return __libc_single_threaded != 0;
#else
  return false;
#endif
}

/// A thread that only waits, alive for the object's lifetime, so the process
/// is multi-threaded (atomic counts) as in production, without sharing a core.
class idle_thread {
public:
  idle_thread() : thread_([f = stop_.get_future()]() mutable { f.wait(); }) {}
  ~idle_thread() {
    stop_.set_value();
    thread_.join();
  }
  idle_thread(const idle_thread&) = delete;
  idle_thread& operator=(const idle_thread&) = delete;

private:
  std::promise<void> stop_;
  std::thread thread_;
};

/// A decimal integer in [lo, hi], or nothing.
inline std::optional<std::uint64_t> parse_count(std::string_view text, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

/// Resident set size of this process now, in bytes (/proc/self/statm), or 0.
inline std::size_t rss_bytes() {
  std::ifstream in("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

/// The most this process has ever had resident, in bytes (VmHWM of
/// /proc/self/status), or 0. It never goes down: a benchmark that wants the
/// peak of one workload runs it in a fresh process (run_self).
inline std::size_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      std::size_t kib = 0;
      in >> kib;
      return kib * 1024;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return 0;
}

/// Bytes this process caused to be sent to storage so far (/proc/self/io
/// write_bytes: every thread, WAL and checkpoints included), or 0.
inline std::uint64_t write_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value)
    if (key == "write_bytes:") return value;
  return 0;
}

/// The slope of log(y) against log(x) by least squares: how fast y grows
/// with x (1: in proportion). Points with x or y not positive are skipped;
/// NaN with fewer than two points left.
inline double loglog_slope(const std::vector<std::pair<double, double>>& xy) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto [x, y] : xy) {
    if (!(x > 0) || !(y > 0)) continue;
    const double lx = std::log(x), ly = std::log(y);
    n += 1, sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  const double den = n * sxx - sx * sx;
  if (n < 2 || den <= 0) return std::nan("");
  return (n * sxy - sx * sy) / den;
}

/// Runs this same program again (/proc/self/exe) with `args` and returns
/// what it printed on standard output; its standard error is this one's. A
/// benchmark measures one point per fresh process this way, so that a
/// process-wide figure (peak RSS, a heap that earlier points grew) belongs
/// to that point alone. Throws std::runtime_error when it cannot start or
/// does not exit 0.
inline std::string run_self(const std::vector<std::string>& args) {
  int out[2];
  if (::pipe(out) != 0) throw std::runtime_error("run_self: pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  posix_spawn_file_actions_addclose(&fa, out[1]);
  std::vector<std::string> argv_s{"/proc/self/exe"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  std::string text;
  if (rc == 0) {
    char buf[4096];
    for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) != 0;) {
      if (n > 0) text.append(buf, static_cast<std::size_t>(n));
      else if (errno != EINTR) break;
    }
  }
  ::close(out[0]);
  if (rc != 0) throw std::runtime_error("run_self: cannot start /proc/self/exe");
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("run_self: the child for '" + (args.empty() ? std::string() : args.front()) +
                             "' failed (status " + std::to_string(status) + ")");
  return text;
}

/// Starts argv[0] as a child with stdin from /dev/null and stderr (and
/// stdout, unless `stdout_fd` >= 0) into the file `log`; the child gets
/// SIGTERM from the kernel if this process dies first. Its pid, or -1 with
/// `why` set. (worker_bench and cluster_bench keep their children with it.)
inline pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& log, std::string& why,
                          int stdout_fd = -1) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    why = "cannot create " + log + ": " + std::strerror(errno);
    return -1;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec: this process has CAF's threads.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl{};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    const int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || ::dup2(in, 0) < 0 || ::dup2(stdout_fd >= 0 ? stdout_fd : log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0)
      ::_exit(127);
    ::close_range(3, ~0u, 0);  // CAF's sockets and pipes are not the child's
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  if (pid < 0) why = std::string("fork failed: ") + std::strerror(fork_errno);
  return pid;
}

/// A whole text file (a child's log); empty if it cannot be read.
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace dairector::bench
