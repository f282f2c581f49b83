// Stage logs (docs/protocol.md#standard-error): a command's standard error
// is its log. Every run's is kept, bounded, in files beside the journal:
//
//   ROOT/PIPELINE/STAGE/RUN.live   while the run is on
//   ROOT/PIPELINE/STAGE/RUN.log    once it has ended (renamed: a reader that
//                                  sees .log knows nothing more comes)
//
// PIPELINE and STAGE are path segments made by log_segment (no '/', never
// "." or ".."), RUN is the run's id (the `run` of its stage_started event).
// Folders are created 0700 and files 0600: a log can hold secrets.
//
// Bounded per run by `stderr_bound`, applied where the bytes are read (the
// worker, local or remote), so a flood never travels: the first
// stage_log_head_bytes_max bytes are kept as they come; past them bytes are
// dropped and counted, the last stage_log_tail_bytes_max are kept, and when
// the run ends a marker line saying how many bytes were dropped is written,
// then that tail. Rotated per stage: when a run's log is opened, the oldest
// runs of that stage beyond `runs_max` are removed.
//
// Logs are not events: one writer actor of their own, on a thread of its own
// (file I/O blocks), gets the chunks, never the journal or a supervisor:
//
//   (stage_log_atom, pipeline, stage, run, capability, bytes, last)
//       append `bytes` to that run's log (opened at its first chunk);
//       `last`: the run ended, its log is closed and renamed to .log.
//
// The same message goes from a worker process's endpoint to the server's
// gate, which passes on only chunks of a run out on that endpoint, with
// the run's capability (gate.hpp); the writer itself is never published.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/all.hpp>

namespace dairector::actors {

using stage_log_atom = caf::atom_constant<caf::atom("dstagelog")>;

/// Bounds (docs/contributing.md#habit-8-bound-everything).
inline constexpr std::size_t stage_log_head_bytes_max = 1u << 20;  // kept from a run's start
inline constexpr std::size_t stage_log_tail_bytes_max = 64u << 10; // kept from its end, past the head
inline constexpr std::size_t stage_log_chunk_bytes_max = 64u << 10;  // one message
inline constexpr std::size_t stage_log_marker_bytes_max = 256;
/// What one run's file holds at most (the writer enforces it too: a worker
/// process is outside data).
inline constexpr std::size_t stage_log_file_bytes_max =
    stage_log_head_bytes_max + stage_log_tail_bytes_max + stage_log_marker_bytes_max;
inline constexpr std::size_t stage_log_runs_default = 10;  // kept per stage
inline constexpr std::size_t stage_log_runs_max = 10'000;
inline constexpr std::size_t stage_log_open_max = 4096;  // runs being written at once

/// One run's standard error, bounded as it is read (see above).
class stderr_bound {
 public:
  /// What of `bytes` to keep now (the head); the rest counts as dropped
  /// and feeds the tail.
  std::string take(std::string_view bytes);
  /// At the end: nothing if nothing was dropped, else the marker line and the tail.
  std::string finish();
  std::uint64_t dropped() const noexcept { return dropped_; }

 private:
  std::size_t kept_ = 0;
  std::uint64_t dropped_ = 0;  // past the head, tail included
  std::string tail_;           // at most 2 * stage_log_tail_bytes_max before a trim
};

/// A pipeline id or stage name as one path segment: letters, digits, '-'
/// and '_' stay, every other byte is %XX (so no '/', no "." or ".."). Empty
/// when the text is empty or the segment would be longer than a file name may be.
std::string log_segment(std::string_view text);

/// The folder of a stage's logs under `root`; empty when a segment is refused.
std::string stage_log_folder(const std::string& root, std::string_view pipeline, std::string_view stage);

/// The runs of a stage that have a log in `folder`, oldest first.
std::vector<std::uint64_t> stage_log_runs(const std::string& folder);

/// A run's log file: .log if it has ended, else .live; nullopt if neither.
struct stage_log_file {
  std::string path;
  bool live = false;
};
std::optional<stage_log_file> find_stage_log(const std::string& folder, std::uint64_t run);

struct stage_logs_config {
  std::string root;  // created (0700) if missing
  std::size_t runs_max = stage_log_runs_default;  // per stage
  std::function<void(const std::string&)> log;     // what could not be written (once per run); may be null
};

/// Creates `root` and ends the logs a dead writer left live (their runs
/// ended with it: a line says so, and they become .log); then the writer
/// actor, on a thread of its own. An error sentence if `root` cannot be made.
caf::expected<caf::actor> spawn_stage_log_writer(caf::actor_system& sys, stage_logs_config cfg);

/// Sends one run's standard error to `to` as it comes, bounded (stderr_bound),
/// in chunks of at most stage_log_chunk_bytes_max. Not thread-safe: one per run.
class stage_log_sender {
 public:
  stage_log_sender(caf::event_based_actor* self, caf::actor to, std::string pipeline, std::string stage, std::uint64_t run,
                   std::string capability);
  void open();  // an empty first chunk: the log exists from the run's start
  void add(std::string_view bytes);
  void close();  // the tail if any, and `last`

 private:
  void send(std::string bytes, bool last);
  caf::event_based_actor* self_;
  caf::actor to_;
  std::string pipeline_, stage_, capability_;
  std::uint64_t run_;
  stderr_bound bound_;
};

}  // namespace dairector::actors
