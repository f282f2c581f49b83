// Remote workers (docs/design.md#scaling-out): the registry is the one actor a
// server publishes over CAF's network layer. A worker process registers the
// stages it serves with a shared token; supervisors ask the registry which
// worker gets a run. It holds no pipeline state.
//
//   (register_atom, token, stages, capacity, name, endpoint) -> reply
//       from a worker process: `endpoint` gets the jobs. A wrong token is
//       refused (reply::refused), logged, and the endpoint never sees a run.
//   (assign_atom, stage) -> caf::actor
//       from a supervisor: a worker with a free slot for that stage (the slot
//       is taken), or an invalid handle when no worker serves the stage and it
//       may run in this process. When every worker of the stage is busy, or
//       the stage is remote-only and none is registered, the answer waits.
//   (unassign_atom, worker)   a run on `worker` ended: its slot is free
//   (lost_atom, actor_addr)   a supervisor saw that worker go down; sent
//                             before it asks again, so the dead worker is
//                             never assigned twice
// Workers are monitored: one that goes down (SIGKILL, a lost connection, a
// middleman heartbeat timeout) is forgotten; its runs are the supervisors'
// business (they monitor it too and record them interrupted).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "dairector/actors/messages.hpp"

namespace dairector::actors {

/// Bounds (docs/contributing.md#habit-8-bound-everything).
inline constexpr std::uint32_t worker_capacity_max = 10'000;
inline constexpr std::size_t registry_workers_max = 1'000;
inline constexpr std::size_t registry_stages_max = 256;  // per worker

struct registry_config {
  std::string token;                     // what a worker must present; empty refuses everyone
  std::set<std::string> remote_only;     // stages that wait for a worker; "*" = every stage
  std::function<void(const std::string&)> log;  // one line per registration, refusal, loss
};

struct registered_worker {
  caf::actor endpoint;
  std::string name;
  std::vector<std::string> stages;
  std::uint32_t capacity = 1;
  std::uint32_t busy = 0;
  std::uint64_t last_assigned = 0;  // for round robin among equally busy workers
};

struct registry_state {
  static inline const char* name = "dairector.registry";
  registry_config cfg;
  std::vector<registered_worker> workers;
  std::deque<std::pair<std::string, caf::response_promise>> waiting;  // by stage, oldest first
  std::uint64_t assignments = 0;
  // Who holds which slot, so that a slot is freed by its holder's unassign or
  // when the holder goes (a supervisor that stops or dies never unassigns),
  // never by anyone else's unassign.
  std::map<std::pair<caf::actor_addr, caf::actor_addr>, std::uint32_t> held;  // (holder, worker) -> slots
  std::set<caf::actor_addr> holders;  // monitored; one per supervisor that asked
  // Workers forgotten (oldest first, at most registry_workers_max) and those
  // that registered again since: a late `lost` about a returned worker's old
  // connection must not evict it (a supervisor may handle its down message
  // after the worker came back).
  std::deque<caf::actor_addr> gone;
  std::set<caf::actor_addr> returned;
};

using registry_actor = caf::stateful_actor<registry_state>;

caf::behavior registry(registry_actor* self, registry_config cfg);

/// True if `a` and `b` are equal, in time that does not depend on where they differ.
bool tokens_equal(const std::string& a, const std::string& b);

}  // namespace dairector::actors
