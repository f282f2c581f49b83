// Policy: what the pipeline does next by itself. Pure functions of a state, so
// the supervisor's driver (and recovery) only ask and obey; the decisions live
// here and are tested without actors.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "dairector/event.hpp"
#include "dairector/state.hpp"

namespace dairector {

/// A system event the pipeline owes before anything else may start: a
/// confirmation after a stage that asks for one, a retry of a failed stage
/// (run.retry, while its attempts last), an on_failure re-run, or a
/// confirmation once the re-runs are exhausted. The caller fills seq, at, by
/// and pipeline. At most one at a time.
std::optional<event> next_system_event(const system_state& s);

/// Stages the driver should start now, in topological order: idle or outdated,
/// every upstream done, no confirmation pending, under the attempt bound; and
/// failed stages whose scheduled retry (run.retry) is due by `now_ms` (the
/// caller's clock: the core has none). Cancelled stages, and failed ones
/// without a retry, are never restarted by themselves.
std::vector<stage_index> startable(const system_state& s, std::int64_t now_ms = INT64_MIN);

/// The earliest time a scheduled retry falls due (due or not yet), if any
/// waits: the driver's timer. A retry waits while a confirmation is pending
/// (rule 2) and starts once the lock is released.
std::optional<std::int64_t> next_retry_at(const system_state& s);

/// How the pipeline stands.
enum class pipeline_outcome {
  active,     // something runs, can start, a retry is scheduled, or a system event is owed
  waiting,    // stopped at a pending confirmation
  done,       // every stage completed (and approved where asked)
  failed,     // a stage failed for good, or nothing can move
  cancelled,  // stopped by a cancel
};
const char* to_string(pipeline_outcome o);
pipeline_outcome outcome(const system_state& s);

/// The JSON a stage handler receives (docs/protocol.md#the-input) for its live run.
json handler_input(const system_state& s, stage_index stage);

}  // namespace dairector
