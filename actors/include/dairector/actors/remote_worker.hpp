// The worker process's side of remote work (`dairector worker`): one endpoint
// actor that a server's gate (gate.hpp) sends jobs to over CAF's network
// layer. It runs each job with the same worker kinds as a local pipeline
// (builtins on a shared actor, commands and blocking handlers on their own
// thread) and sends the result back to the gate, with the output as JSON
// text (values do not cross a process boundary) and the job's capability.
//
// It takes jobs and kills only from the gate it registered with, carrying
// the secret it registered with (constant-time compare): a peer that can
// route a message to it, whatever sender it claims, gets nothing run.
//
//   endpoint_server{gate, secret}      (local) set before each registration
//   job                                run it; the result goes to the gate
//   (kill_atom, secret, pipeline, run) the run was fenced (cancelled,
//                                      outdated): kill its command and every
//                                      process it started
//   endpoint_stop{quit}                (local) the server is gone: kill every
//                                      running command (the server records
//                                      them interrupted and runs them again
//                                      when it is back); `quit`: then end
// Anything else is dropped, counted and logged (the first
// `endpoint_drops_logged_max`); exit messages never reach it (exit_proof.hpp).
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <utility>

#include <caf/all.hpp>

#include "dairector/actors/exit_proof.hpp"
#include "dairector/actors/workers.hpp"

namespace dairector::actors {

struct endpoint_config {
  std::string name;                                 // the events' `by`, e.g. "worker:build-1"
  std::shared_ptr<const handler_registry> handlers; // in-process handlers; may be null
  std::string workdir;  // where commands run; empty: the job's folder if it exists here, else the current one
  std::function<void(const std::string&)> log;  // dropped messages; may be null
};

struct endpoint_run {
  caf::actor reply_to;  // the gate
  caf::actor_addr worker;  // the local worker running it
  std::uint32_t stage_index = 0;  // for the failed answer if that worker dies first
  pid_t pgid = 0;
  bool killed = false;
  std::string capability;  // echoed in the failed answer if that worker dies first
};

struct endpoint_state {
  static inline const char* name = "dairector.worker_endpoint";
  endpoint_config cfg;
  std::shared_ptr<local_workers> workers;
  shared_workers shared;
  std::map<std::pair<std::string, std::uint64_t>, endpoint_run> runs;  // by (pipeline, run)
  std::uint64_t jobs = 0;  // served, for the log
  // Run specs parsed from a job's text, by that text: a server sends the same
  // few over and over. Bounded: emptied when full.
  std::unordered_map<std::string, std::shared_ptr<const run_spec>> run_specs;
  caf::actor server;    // the gate it registered with (endpoint_server)
  std::string secret;   // the secret it registered with
  std::uint64_t dropped = 0;        // messages it did not take
  std::uint64_t exits_dropped = 0;  // exit messages (exit_proof.hpp)
};

inline constexpr std::size_t endpoint_run_specs_max = 1024;
inline constexpr std::uint64_t endpoint_drops_logged_max = 20;

using endpoint_actor = exit_proof_actor<endpoint_state>;

caf::behavior worker_endpoint(endpoint_actor* self, endpoint_config cfg);

}  // namespace dairector::actors
