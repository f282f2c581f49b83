// The director hosts pipelines by id: it creates one supervisor per pipeline,
// answers where each lives, and owns what they share (the journal, the
// command gate, the workers). It holds no pipeline state itself.
//
//   (create_atom, id, spec, workdir) -> reply (ok once `pipeline_created` is durable,
//                                    unavailable if the journal failed, invalid if
//                                    the id exists)
//   (recover_atom, system_state, workdir) -> reply: host a pipeline replayed
//                                    from the journal (rule 8; `serve` at start)
//   (lookup_atom, id)                -> caf::actor (the supervisor) or an error
//   (list_atom)                      -> std::vector<std::string> ids
//   (stop_atom)                      stops every supervisor, then itself once they
//                                    are all gone (their last appends are then queued
//                                    at the journal); refuses new pipelines meanwhile
// Messages for a pipeline may also be routed through the director:
//   (id, caf::message request) is delegated to that pipeline's supervisor,
//   whose answer goes straight back to the requester.
#pragma once

#include <caf/all.hpp>

#include "dairector/actors/supervisor.hpp"

namespace dairector::actors {

/// Bounds (STYLE.md habit 8).
inline constexpr std::size_t pipelines_max_default = 100'000;

struct director_config {
  caf::actor journal;                       // shared by every pipeline; may be invalid
  std::size_t command_limit = 8;            // concurrent stage commands, all pipelines
  std::size_t pipelines_max = pipelines_max_default;
  std::shared_ptr<worker_factory> workers;  // null: local_workers
  caf::actor registry;                      // remote workers (registry.hpp); invalid: local only
  std::function<std::int64_t()> clock_ms;   // null: the system clock
  bool drive = true;
};

struct director_state {
  static inline const char* name = "dairector.director";
  director_config cfg;
  caf::actor gate;
  std::unordered_map<std::string, caf::actor> pipelines;
  std::unordered_map<caf::actor_addr, std::string> ids;  // to forget a pipeline whose supervisor ended
  bool stopping = false;
};

using director_actor = caf::stateful_actor<director_state>;

caf::behavior director(director_actor* self, director_config cfg);

}  // namespace dairector::actors
