// The messages of the actor runtime. Every request to a supervisor is one of
// these; its mailbox order is the order of history (docs/design.md#rule-1-one-writer).
//
// Types that cross a process boundary (worker jobs and results, replies) have
// an `inspect` overload and are registered by `register_message_types`; types
// that hold shared in-memory values (states, events) are local only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>
#include <string>

#include <caf/all.hpp>

#include "dairector/event.hpp"
#include "dairector/state.hpp"

namespace dairector::actors {

// Atoms (at most 10 characters; see docs/contributing.md#atoms for the ones CAF defines).
using start_atom = caf::atom_constant<caf::atom("dstart")>;
using cancel_atom = caf::atom_constant<caf::atom("dcancel")>;
using context_atom = caf::atom_constant<caf::atom("dcontext")>;
using resolve_atom = caf::atom_constant<caf::atom("dresolve")>;
using rollback_atom = caf::atom_constant<caf::atom("drollback")>;
using state_atom = caf::atom_constant<caf::atom("dstate")>;
using watch_atom = caf::atom_constant<caf::atom("dwatch")>;
using append_atom = caf::atom_constant<caf::atom("dappend")>;
using history_atom = caf::atom_constant<caf::atom("dhistory")>;
using pgid_atom = caf::atom_constant<caf::atom("dpgid")>;
using create_atom = caf::atom_constant<caf::atom("dcreate")>;
using lookup_atom = caf::atom_constant<caf::atom("dlookup")>;
using list_atom = caf::atom_constant<caf::atom("dlist")>;
using stop_atom = caf::atom_constant<caf::atom("dstop")>;
using recover_atom = caf::atom_constant<caf::atom("drecover")>;
using register_atom = caf::atom_constant<caf::atom("dregister")>;
using kill_atom = caf::atom_constant<caf::atom("dkill")>;
using idle_atom = caf::atom_constant<caf::atom("didle")>;
using evict_atom = caf::atom_constant<caf::atom("devict")>;
using known_atom = caf::atom_constant<caf::atom("dknown")>;
using summary_atom = caf::atom_constant<caf::atom("dsummary")>;
using damaged_atom = caf::atom_constant<caf::atom("ddamaged")>;
using release_atom = caf::atom_constant<caf::atom("drelease")>;
using retry_atom = caf::atom_constant<caf::atom("dretry")>;
using retry_due_atom = caf::atom_constant<caf::atom("dretrydue")>;

/// What a supervisor answers to every request. `behind` is back-pressure:
/// the journal is too many of the pipeline's events behind (supervisor.hpp,
/// `journal_backlog_events_max`); nothing was applied, and the same request
/// succeeds once the journal catches up (HTTP 503 with Retry-After, CLI exit 5).
struct reply {
  enum code_t : std::uint8_t {
    ok = 0, refused = 1, blocked = 2, not_found = 3, invalid = 4, unavailable = 5, behind = 6
  };
  std::uint8_t code = ok;
  std::string message;   // the reason when not ok
  std::uint64_t seq = 0; // the pipeline's seq after the request
  bool is_ok() const noexcept { return code == ok; }
};
/// The reply code of a core error, and back: the errc travels from the
/// reducer through the supervisor's reply to the HTTP status (errc's table,
/// result.hpp) without anyone reading the sentence.
reply::code_t reply_code(errc code);
/// The errc of a reply that is not ok.
errc errc_of(const reply& r);
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reply& x) {
  return f(caf::meta::type_name("dairector_reply"), x.code, x.message, x.seq);
}

/// A run handed to a worker (docs/protocol.md). `run_spec` is the stage's
/// canonical "run" object; `input` is the handler's standard input.
struct job {
  std::string pipeline;
  std::string stage;
  std::uint32_t stage_index = 0;
  std::uint64_t run = 0;
  std::uint32_t attempt = 0;
  std::string run_spec;  // JSON text
  std::string input;     // JSON text
  std::string workdir;   // where commands run (the spec's folder); empty = current
  // The run's capability (secret.hpp): made when the run is dispatched, sent
  // only inside this job, echoed in its result. A result without it changes nothing.
  std::string capability;
  // To a worker process: the secret it gave when it registered, so that its
  // endpoint knows the job comes from the server it registered with.
  std::string secret;
  // In-process only (not serialized): the input as a value, so local workers
  // neither print nor parse it. A worker uses it when set, else `input`.
  std::shared_ptr<const json> input_value;
  std::shared_ptr<const pipeline_spec> spec_value;  // with stage_index: the run spec
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job& x) {
  return f(caf::meta::type_name("dairector_job"), x.pipeline, x.stage, x.stage_index, x.run, x.attempt, x.run_spec,
           x.input, x.workdir, x.capability, x.secret);
}

/// What a worker sends back for a job: an output (JSON text) or an error.
struct stage_result {
  std::string pipeline;
  std::uint32_t stage_index = 0;
  std::uint64_t run = 0;
  bool ok = false;
  std::string output;  // JSON text when ok
  std::string error;   // a sentence when not ok (with the tail of stderr for commands)
  std::string worker;  // who ran it, e.g. "worker:local" (the event's `by`)
  std::string capability;  // the job's, echoed: what makes the result the run's own
  // In-process only (not serialized): the output as a value; used when set.
  std::shared_ptr<const json> output_value;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stage_result& x) {
  return f(caf::meta::type_name("dairector_result"), x.pipeline, x.stage_index, x.run, x.ok, x.output, x.error,
           x.worker, x.capability);
}

/// Sent to watchers after every applied event, in seq order. A completion is
/// only ever sent after the journal confirmed it durable (rule 5).
struct state_update {
  event applied;
  system_state state;
};

// Local-only messages: what only this process's own actors may send. None
// has an `inspect` overload or is registered by `register_message_types`, so
// a peer can neither send one nor have one decoded (CAF's network layer
// cannot deserialize the type): no check of the sender is needed, and a
// sender forged by a routed message gets nowhere.

/// To the registry (registry.hpp), from a supervisor: a worker with a free
/// slot for `stage`, or an invalid handle (run it here). `pipeline` and
/// `run` name the run while it waits (waits_request, the server's log).
struct assign_request {
  std::string stage;
  std::string pipeline;
  std::uint64_t run = 0;
};
/// To the registry, from a supervisor: its run `run` was fenced while its
/// assign waited: the wait ends (answered with an invalid handle).
struct withdraw_request {
  std::uint64_t run = 0;
};
/// A run waiting for a worker process (registry.hpp): why, and since when
/// (milliseconds since the Unix epoch).
struct stage_wait {
  std::string stage;
  std::uint64_t run = 0;
  std::string reason;
  std::int64_t since_ms = 0;
};
/// To the registry: the runs of `pipeline` waiting for a worker now
/// (answered std::vector<stage_wait>).
struct waits_request {
  std::string pipeline;
};
/// To the registry: a run on `worker` ended; the sender's slot is free.
struct unassign_request {
  caf::actor worker;
};
/// To the registry: the sender saw `gone`'s connection break.
struct lost_report {
  caf::actor_addr gone;
};
/// To the registry, from the gate (gate.hpp): a worker that presented the
/// token. Answered with a `registration_answer` of the same id, sent as a
/// message of its own rather than a response: a peer can forge a response
/// to a request of the gate (CAF matches responses by id only), never a
/// message of a local-only type.
struct registration {
  std::uint64_t id = 0;
  std::vector<std::string> stages;
  std::uint32_t capacity = 0;
  std::string name;
  caf::actor endpoint;
};
struct registration_answer {
  std::uint64_t id = 0;
  reply answer;
};
/// To the registry, from the HTTP API (GET /metrics): answered with how
/// many worker processes are registered now (std::uint64_t).
struct workers_count_request {};
/// From the registry to whoever registered the worker (the gate): it is gone.
struct worker_forgotten {
  caf::actor_addr endpoint;
};
/// From a supervisor to the gate: send `j` (with its capability) to the
/// worker process `endpoint`, and its result back to the sender.
struct remote_job {
  caf::actor endpoint;
  job j;
};
/// From a supervisor to the gate: kill the run on `endpoint`.
struct remote_kill {
  caf::actor endpoint;
  std::string pipeline;
  std::uint64_t run = 0;
};
/// From the gate to a supervisor: what `endpoint` answered for a remote job.
struct remote_result {
  caf::actor_addr endpoint;
  stage_result result;
};
/// From the gate to a supervisor: the job could not be sent (the worker is
/// no longer registered): the run is treated as lost with its worker.
struct remote_undeliverable {
  caf::actor_addr endpoint;
  std::uint64_t run = 0;
};
/// From the worker process to its endpoint (remote_worker.hpp): the gate it
/// registers with and the secret it registers with (set before registering).
struct endpoint_server {
  caf::actor gate;
  std::string secret;
};
/// From the worker process to its endpoint: kill every running command
/// (the server is gone); `quit` also ends the endpoint.
struct endpoint_stop {
  bool quit = false;
};

/// To the gate (gate.hpp), from the server's main: quit.
struct gate_close {};

/// Registers the types above with a config (needed on both ends of a network
/// connection; harmless locally).
void register_message_types(caf::actor_system_config& cfg);

/// What our programs set before they start an actor system: the message
/// types, and the scheduler's idle policy. An idle scheduler thread spins
/// briefly, then sleeps on its condition variable until work arrives (CAF's
/// default polls every 50 us for 25 ms in between: on the durable path,
/// where a stage waits about 100 us for fsync, that polling doubled the CPU
/// per transition and cost a third of a lone pipeline's throughput), and a
/// sleeping thread looks for work to steal every millisecond (not every 10).
void configure_system(caf::actor_system_config& cfg);

/// Removes `gone` from a list of actors (watchers, subscribers) on its down message.
inline void forget_actor(std::vector<caf::actor>& actors, const caf::actor_addr& gone) {
  actors.erase(std::remove_if(actors.begin(), actors.end(), [&](const caf::actor& a) { return a.address() == gone; }),
               actors.end());
}

/// A readable sentence for a CAF error (request failures, down reasons).
std::string describe(const caf::error& err);

}  // namespace dairector::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::system_state)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::state_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const dairector::pipeline_spec>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dairector::event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::assign_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::unassign_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::withdraw_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::waits_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dairector::actors::stage_wait>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::lost_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::registration)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::registration_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::workers_count_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::worker_forgotten)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::remote_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::remote_kill)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::remote_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::remote_undeliverable)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::endpoint_server)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::endpoint_stop)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dairector::actors::gate_close)
