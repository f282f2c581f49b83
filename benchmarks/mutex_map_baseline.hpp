// The baseline of the transition benchmarks (README.md#performance): the
// blog's first design. One mutable record per stage in a map keyed by the
// stage's name, guarded by a mutex and changed in place; whoever holds the lock
// may change anything.
//
// It makes the same checks and the same changes as the reducer for the events
// the benchmarks replay (pipeline_created, stage_started, stage_completed,
// context_changed) and refuses every other type. It keeps no history and
// shares nothing: it is what the immutable core is measured against.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "dairector/event.hpp"
#include "dairector/spec.hpp"
#include "dairector/state.hpp"

namespace dairector::bench {

class mutex_map_pipeline {
public:
  struct stage_record {
    run_status status = run_status::idle;
    std::uint64_t run = 0;
    std::uint64_t since = 0;
    std::uint32_t attempt = 0;
    std::shared_ptr<const json> output;
    std::shared_ptr<const json> context;
    std::string error;
  };

  /// Changes the pipeline in place; false if `e` is not legal now (nothing changed).
  bool apply(const event& e);

  std::uint64_t seq() const;
  /// The stored status of a stage, by name (as the first design looked it up).
  run_status status_of(const std::string& stage) const;

private:
  bool created(const event& e);
  bool started(const event& e);
  bool completed(const event& e);
  bool context_changed(const event& e);

  mutable std::mutex mu_;
  std::shared_ptr<const pipeline_spec> spec_;
  std::string pipeline_;
  std::uint64_t seq_ = 0;
  std::unordered_map<std::string, stage_record> stages_;
};

}  // namespace dairector::bench
