// The gate: the one actor a server publishes on its worker port
// (docs/design.md#who-may-connect). Workers reach nothing else: the registry,
// the supervisors and the director are never sent to a peer, so CAF's
// network layer never makes them addressable (it delivers a remote message
// only to an actor in `sys.registry()`, where an actor lands when its handle
// is published or serialized to a peer). Everything the server says to a
// worker process goes out from here.
//
// From workers (the network):
//   (register_atom, token, stages, capacity, name, endpoint, secret) -> reply
//       the token is checked here (constant time); the registry then checks
//       the rest (registry.hpp). `secret` (32 to 256 characters) is the
//       worker's own: the gate puts it in every job and kill it sends to that
//       endpoint, which accepts nothing without it.
//   stage_result   from the endpoint a job went to, for that job's
//                  (pipeline, run), with the run's capability: passed on to
//                  the supervisor that dispatched it (remote_result).
//                  Anything else changes nothing.
//   (stage_log_atom, pipeline, stage, run, capability, bytes, last)
//                  a chunk of a run's standard error (stage_logs.hpp), from
//                  the endpoint the run is out on, for that run's stage,
//                  with its capability: passed on to the log writer.
// From this process (local-only types, messages.hpp):
//   remote_job, remote_kill   from supervisors: sent on with the secret
//   registration_answer       from the registry: the worker is answered
//                             (and its secret kept if it is registered)
//   worker_forgotten          from the registry: the endpoint's secret and
//                             routes are dropped
//   gate_close                quit (the server is stopping)
// Everything else is dropped, counted and logged (the first
// `gate_drops_logged_max`): requests it does not know, down messages (it
// monitors nobody), errors; exit messages never reach it (exit_proof.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>

#include <caf/all.hpp>

#include "dairector/actors/exit_proof.hpp"
#include "dairector/actors/messages.hpp"

namespace dairector::actors {

/// Bounds (docs/contributing.md#habit-8-bound-everything).
inline constexpr std::size_t gate_runs_max = 1'000'000;  // remote runs in flight, all workers
inline constexpr std::uint64_t gate_drops_logged_max = 20;
inline constexpr std::size_t gate_registrations_max = 1'000;  // waiting for the registry at once

struct gate_config {
  std::string token;   // what a worker must present; empty refuses everyone
  caf::actor registry;
  std::function<void(const std::string&)> log;
  caf::actor logs;  // the stage log writer (stage_logs.hpp); may be invalid: chunks are dropped
};

/// Where a remote run's result goes, and what proves it is the run's.
struct gate_route {
  caf::actor supervisor;
  std::string capability;
  std::string stage;  // its log chunks must name it
};

/// A registration the registry has not answered yet.
struct gate_registration {
  caf::typed_response_promise<reply> answer;
  caf::actor_addr endpoint;
  std::string secret;
};

struct gate_state {
  static inline const char* name = "dairector.gate";
  gate_config cfg;
  std::map<std::uint64_t, gate_registration> registering;  // by registration id
  std::uint64_t registrations = 0;  // the last id
  std::map<caf::actor_addr, std::string> secrets;  // registered endpoints (bounded by the registry's workers)
  std::map<std::tuple<caf::actor_addr, std::string, std::uint64_t>, gate_route> routes;  // (endpoint, pipeline, run)
  std::uint64_t dropped = 0;          // messages it does not take, from anyone
  std::uint64_t results_refused = 0;  // results without a route or with a wrong capability
  std::uint64_t logs_refused = 0;     // log chunks likewise
  std::uint64_t exits_dropped = 0;    // exit messages (exit_proof.hpp)
};

using gate_actor = exit_proof_actor<gate_state>;

caf::behavior worker_gate(gate_actor* self, gate_config cfg);

}  // namespace dairector::actors
