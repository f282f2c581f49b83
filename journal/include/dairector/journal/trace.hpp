// The durable path's timeline (docs/performance/report.md#the-timeline-of-one-stage):
// where the time of one stage goes, from the supervisor's start to its next
// start, through the journal, its committer and the disk.
//
// Off unless a benchmark installs a buffer: then every point costs one clock
// read and one atomic increment, and points past the buffer's end are
// dropped. Off, a point is one atomic load. The points are written by the
// threads that pass them and read by whoever installed the buffer once the
// traced work is over (it has heard so through actor messages, which order
// the writes before its read).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace dairector::trace {

/// The points of one stage, in the order a lone pipeline passes them.
enum class point : std::uint8_t {
  start_sent,        // supervisor: a start applied in memory and sent to the journal
  append_received,   // journal: the start's append taken
  job_received,      // worker: the run's job taken
  result_received,   // supervisor: the worker's result taken (its completion sent to be persisted)
  persist_received,  // journal: the completion's persist taken
  timer_fired,       // journal: the appends' delay ran out (a start waited alone)
  handed_over,       // journal: a batch sent to the committer
  commit_began,      // committer: the batch taken (encode, insert)
  sync_began,        // committer: rows inserted, COMMIT (and its fsync) begins
  commit_ended,      // committer: COMMIT returned (durable)
  answer_received,   // journal: the committer's answer taken
  persist_answered,  // supervisor: the completion known durable (applied, next start decided)
};
inline constexpr std::size_t point_count = 12;

inline constexpr std::array<std::string_view, point_count> point_names = {
    "start_sent",  "append_received", "job_received", "result_received", "persist_received", "timer_fired",
    "handed_over", "commit_began",    "sync_began",   "commit_ended",    "answer_received",  "persist_answered"};
static_assert(static_cast<std::size_t>(point::persist_answered) + 1 == point_count,
              "a point was added: name it in point_names and count it in point_count");

struct sample {
  point at{};
  std::int64_t ns = 0;  // steady_clock
};

namespace detail {
inline std::atomic<sample*> buffer{nullptr};
inline std::atomic<std::size_t> next{0};
inline std::size_t capacity = 0;
}  // namespace detail

/// Records into `into` (its size is the capacity) until stop(); one trace at a time.
inline void start(std::vector<sample>& into) {
  detail::capacity = into.size();
  detail::next.store(0, std::memory_order_relaxed);
  detail::buffer.store(into.data(), std::memory_order_release);
}

/// Stops recording; how many points were kept.
inline std::size_t stop() {
  detail::buffer.store(nullptr, std::memory_order_release);
  return std::min(detail::next.load(std::memory_order_acquire), detail::capacity);
}

inline void mark(point p) {
  sample* b = detail::buffer.load(std::memory_order_acquire);
  if (b == nullptr) return;
  const std::size_t i = detail::next.fetch_add(1, std::memory_order_acq_rel);
  if (i >= detail::capacity) return;
  b[i] = sample{p, std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch()).count()};
}

}  // namespace dairector::trace
