// What every transition benchmark needs besides the thing it measures: the
// summary of repeated runs, a description of the machine and the build, and
// strict parsing of numeric flags. Benchmarks may read clocks; the core may not.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <time.h>

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

}  // namespace dairector::bench
