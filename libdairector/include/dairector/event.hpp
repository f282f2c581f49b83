// Events: the closed set of facts that change a pipeline (docs/events.md).
// Type names and fields written to disk are frozen; `event_format_version`
// travels with every encoded event. Add a type by appending to the enum and
// the name table; never rename or reuse one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "dairector/json_bounds.hpp"
#include "dairector/spec.hpp"

namespace dairector {

class system_state;

inline constexpr int event_format_version = 1;
/// An encoded event larger than this is refused (an admitted value fits:
/// json_bounds.hpp).
inline constexpr std::size_t event_bytes_max = json_bytes_max;

/// The text a client gives an event: who (`by`), a note, a pipeline id. The
/// CLI and the HTTP API refuse longer text, and text with control characters
/// (text_check.hpp).
inline constexpr std::size_t by_bytes_max = 256;
inline constexpr std::size_t note_bytes_max = 4096;
inline constexpr std::size_t pipeline_id_bytes_max = 128;

enum class event_type : std::uint8_t {
  pipeline_created,
  stage_started,
  stage_completed,
  stage_failed,
  stage_cancelled,
  stage_interrupted,
  result_discarded,
  context_changed,
  confirmation_requested,
  confirmation_resolved,
  rolled_back,
  rerun_requested,  // added: on_failure re-runs an upstream stage (new types may be added: docs/events.md#event-types)
  retry_scheduled,  // added: a stage's run.retry policy retries it after a backoff
  retry_requested,  // added: a user makes a failed or cancelled stage (and its downstream) startable again
};
/// The last type: the name table (codec.cpp) is checked against it at
/// compile time, and no switch over event_type has a `default:`, so -Wswitch
/// names every place a new type must be handled.
inline constexpr event_type event_type_last = event_type::retry_requested;
inline constexpr int event_type_count = static_cast<int>(event_type_last) + 1;

const char* to_string(event_type t);
std::optional<event_type> event_type_from(std::string_view name);

/// One fact. Common fields first; the rest is used by the types noted.
/// `stage` is an index into the pipeline's spec; the codec maps it to the name.
struct event {
  std::uint64_t seq = 0;      // gapless and increasing per pipeline, from 1
  std::int64_t at_ms = 0;     // when, milliseconds since the Unix epoch (UTC)
  std::string by;             // who: "user:NAME", "worker:ID" or "system"
  std::string pipeline;       // pipeline id
  event_type type = event_type::pipeline_created;

  stage_index stage = no_stage;  // every stage_* type, result_discarded, context_changed,
                                 // confirmation_*, rerun_requested; stage_cancelled without
                                 // a stage cancels the whole pipeline
  std::uint64_t run = 0;         // stage_started (must equal seq), completed, failed,
                                 // cancelled (one stage), interrupted, result_discarded,
                                 // retry_scheduled (the failed run)
  std::shared_ptr<const json> payload;  // completed: output; context_changed: context
  std::string text;              // failed: error; result_discarded: outcome "completed"/"failed";
                                 // confirmation_requested: message; confirmation_resolved: note
  bool approved = false;         // confirmation_resolved
  std::uint64_t to = 0;          // rolled_back: the seq whose state is restored
  stage_index rerun = no_stage;  // rerun_requested: the upstream stage re-run
  std::shared_ptr<const pipeline_spec> spec;  // pipeline_created
  std::uint64_t seed = 0;        // pipeline_created: the retries' jitter (retry.hpp); absent = 0
  std::uint64_t delay_ms = 0;    // retry_scheduled: the backoff before the retry may start

  /// rolled_back only, never encoded: the state right after `to`, found by
  /// whoever holds the history (`fold`, the supervisor). `apply` refuses a
  /// rollback without it.
  std::shared_ptr<const system_state> target;
};

/// Field-by-field equality (payloads by value, `target` ignored).
bool same_event(const event& a, const event& b);

}  // namespace dairector
