// The pipelines and histories the transition benchmarks replay: a shape
// (a linear chain, or one root fanning out to every other stage) of N stages,
// and a legal history for it, built once so that only its application is timed.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "dairector/event.hpp"
#include "dairector/result.hpp"
#include "dairector/spec.hpp"

namespace dairector::bench {

enum class shape { chain, fanout };
const char* to_string(shape s);

struct workload {
  shape kind = shape::chain;
  std::size_t stages = 0;
  std::shared_ptr<const pipeline_spec> spec;
  /// pipeline_created, then every stage started and completed (all with one
  /// shared output), then a context change on the root that outdates every
  /// other stage; then those stages again and another context change, and so
  /// on. Seq runs from 1, so the history replays from the empty state.
  std::vector<event> history;
};

/// A workload whose history holds whole cycles and about `events_target`
/// events (at least one cycle), never starting a stage stage_attempts_max times.
result<workload> make_workload(shape kind, std::size_t stages, std::size_t events_target);

}  // namespace dairector::bench
