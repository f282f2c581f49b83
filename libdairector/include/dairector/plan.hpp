// Policy: what the pipeline does next by itself. Pure functions of a state, so
// the supervisor's driver (and recovery) only ask and obey; the decisions live
// here and are tested without actors.
#pragma once

#include <optional>
#include <vector>

#include "dairector/event.hpp"
#include "dairector/state.hpp"

namespace dairector {

/// A system event the pipeline owes before anything else may start: a
/// confirmation after a stage that asks for one, an on_failure re-run, or a
/// confirmation once the re-runs are exhausted. The caller fills seq, at, by
/// and pipeline. At most one at a time.
std::optional<event> next_system_event(const system_state& s);

/// Stages the driver should start now, in topological order: idle or outdated,
/// every upstream done, no confirmation pending, under the attempt bound.
/// Failed and cancelled stages are never restarted by themselves.
std::vector<stage_index> startable(const system_state& s);

/// How the pipeline stands.
enum class pipeline_outcome {
  active,     // something runs, can start, or a system event is owed
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
