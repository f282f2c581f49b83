// Remote workers (docs/design.md#scaling-out): the registry knows the worker
// processes and which of them gets a run. It holds no pipeline state, and
// it is never reachable from the network: workers talk to the gate
// (gate.hpp), the one actor a server publishes, which checks their token and
// registers them here. Every message it handles is of a local-only type
// (messages.hpp), so no peer can send one, whatever sender it claims.
//
//   registration -> a registration_answer (a message of its own)
//       from the gate: a worker that presented the token; `endpoint` gets the
//       jobs (through the gate). A registration that breaks a bound is
//       refused (reply::refused) and logged. The answer goes before any
//       waiting run is handed the worker, so the gate knows the worker's
//       secret before a job for it can reach the gate.
//   assign_request{stage} -> caf::actor
//       from a supervisor: a worker with a free slot for that stage (the slot
//       is taken), or an invalid handle when no worker serves the stage and it
//       may run in this process. When every worker of the stage is busy, or
//       the stage is remote-only and none is registered, the answer waits.
//       A run that waits because no connected worker serves its stage is
//       logged once when it starts waiting and once when a worker takes it
//       (or it stops waiting), never per retry; one that waits for a busy
//       worker is not (that is back-pressure, not a silent wait).
//   withdraw_request{run}     the sender's run was fenced while it waited:
//                             its wait ends (answered with an invalid handle)
//   waits_request{pipeline} -> std::vector<stage_wait>: its runs waiting now,
//                             with the reason (GET /pipelines/ID, status)
//   unassign_request{worker}  a run on `worker` ended: its slot is free
//   lost_report{addr}         a supervisor saw that worker go down; sent
//                             before it asks again, so the dead worker is
//                             never assigned twice
//   workers_count_request{} -> std::uint64_t: workers registered now (GET /metrics)
// Workers are monitored: one that goes down (SIGKILL, a lost connection, a
// middleman heartbeat timeout) is forgotten, and whoever registered it (the
// gate) is told (worker_forgotten); its runs are the supervisors' business
// (they monitor it too and record them interrupted).
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
#include "dairector/actors/secret.hpp"

namespace dairector::actors {

/// Bounds (docs/contributing.md#habit-8-bound-everything).
inline constexpr std::uint32_t worker_capacity_max = 10'000;
inline constexpr std::size_t registry_workers_max = 1'000;
inline constexpr std::size_t registry_stages_max = 256;  // per worker

struct registry_config {
  std::set<std::string> remote_only;     // stages that wait for a worker; "*" = every stage
  std::function<void(const std::string&)> log;  // one line per registration, refusal, loss
};

struct registered_worker {
  caf::actor endpoint;
  caf::actor registrar;  // who registered it (the gate): told when it is forgotten
  std::string name;
  std::vector<std::string> stages;
  std::uint32_t capacity = 1;
  std::uint32_t busy = 0;
  std::uint64_t last_assigned = 0;  // for round robin among equally busy workers
};

/// A supervisor's assign that waits for a worker.
struct waiting_assign {
  std::string stage;
  caf::response_promise answer;
  std::string pipeline;
  std::uint64_t run = 0;
  std::int64_t since_ms = 0;
  bool logged = false;  // it waited for a worker that nobody connected serves: said so
};

struct registry_state {
  static inline const char* name = "dairector.registry";
  registry_config cfg;
  std::vector<registered_worker> workers;
  std::deque<waiting_assign> waiting;  // oldest first
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

/// A refused registration: logged ("refused worker 'NAME' from node N: WHY")
/// and answered reply::refused. Shared with the gate (a wrong token).
reply refuse_registration(const std::function<void(const std::string&)>& log, const std::string& name,
                          const caf::actor& endpoint, const std::string& why);

}  // namespace dairector::actors
