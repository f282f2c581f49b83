// One supervisor actor per pipeline: the only writer of its `system_state`
// (docs/design.md#rule-1-one-writer). Every request is a message; each handler turns it into an
// event (or a refusal) and hands the event to the core's `apply`. Policy —
// what may start, what confirmation is owed, the on_failure loop — comes from
// plan.hpp; the supervisor only asks and obeys.
//
// Requests (each answers a `reply` unless noted; the core's event_for,
// request.hpp, turns each into its event or its refusal):
//   (start_atom, stage, by)            start one stage now
//   (cancel_atom, stage, by)           cancel one running stage; "" = the pipeline
//   (context_atom, stage, json, by)    context change on a stage (cascade)
//   (resolve_atom, approved, note, by) confirm or reject the pending confirmation
//   (rollback_atom, seq, by)           return to the state after seq (needs a journal)
//   (retry_atom, stage, by)            retry a failed or cancelled stage (docs/events.md#retry_requested)
//   (retry_due_atom)                   its own timer: a scheduled retry may be due (run.retry)
//   (durable_atom, seq)                ok once the pipeline's events up to seq are
//                                      durable (the director answers a creation so)
//   (state_atom)                       -> system_state
//   (watch_atom, actor)                -> system_state now; then a state_update per event
//   (stop_atom)                        kill running commands and quit
// From workers: stage_result, (pgid_atom, run, pgid). With a registry and a
// gate (`cfg.registry`, `cfg.worker_gate`), each run is first offered to the
// remote workers of its stage; a run on a worker process goes out through the
// gate (remote_job), is answered only through it by that worker
// (remote_result), killed there when fenced (remote_kill), and recorded
// `stage_interrupted` (then run again) when that worker goes down.
// Every run gets a capability when it is dispatched (secret.hpp): its job
// carries it, and a result without it changes nothing (logged once per run),
// whatever its sender; so does a result for a run that is not out.
// Unknown messages get an error reply; the supervisor lives on.
//
// Ordering (rules 4 and 5): a start is applied, then sent to the journal without
// waiting, then dispatched; a completion or failure is sent to the journal and
// the supervisor handles nothing else until the journal confirms it durable
// (`request(...).await`), and only then applies it, tells watchers and starts
// what became startable.
//
// An answer means durable: a client command's event (start, cancel, context,
// resolve, rollback) is applied and sent to the journal as a persist, as is
// the pipeline's creation, and the `ok` answer is delivered only once the
// journal acknowledges a commit holding it (a response promise kept in
// `owed`). The supervisor does not wait for it: it handles other messages
// meanwhile (only completions stash, rule 5), and the persist shares its
// commit with everything queued at the journal (group commit: no commit of
// its own per request). If the journal fails, every owed answer is
// `unavailable` with the journal's error, never `ok`; so is a command
// after the failure, which records nothing.
//
// Back-pressure (docs/contributing.md#habit-8-bound-everything): the supervisor's backlog is the number of
// its events sent to the journal and not yet known durable. A persist's answer
// covers everything the supervisor sent before it (one sender, so FIFO; the
// journal commits in arrival order), and so does the answer to a
// (journal_sync_atom) it asks once half the bound is unacknowledged. At
// `journal_backlog_events_max` (1) client commands — start, cancel, context,
// resolve, rollback — are refused with `reply::behind` ("the journal is N
// events behind ...: retry"), and (2) the supervisor's own decisions (owed
// settlements, automatic starts) stay in the state, which already says what is
// owed and startable, until an answer brings the backlog under the bound; then
// the driver runs again. Nothing is dropped or queued, and seqs are assigned
// only when an event is applied, so history keeps its order (rules 4 and 5
// unchanged). What cannot be refused is still recorded past the bound: a
// worker's result (a completion is persisted and acknowledges the whole
// backlog; a fenced one is recorded discarded) and a worker's death
// (interrupted) — at most one each per run started, and runs are started only
// under the bound. So the journal holds at most about `journal_backlog_events_max`
// events per pipeline.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "dairector/actors/messages.hpp"
#include "dairector/actors/workers.hpp"
#include "dairector/spec.hpp"

namespace dairector::actors {

using durable_atom = caf::atom_constant<caf::atom("ddurable")>;

/// The default bound on a pipeline's backlog (events sent to the journal and
/// not yet known durable). Big enough that a journal that keeps up never
/// refuses a client (a pipeline's own loop acknowledges its backlog at every
/// completion, a few events apart), small enough that 1,000 pipelines on one
/// stalled journal queue at most about a million events.
inline constexpr std::uint64_t journal_backlog_events_max_default = 1'024;

struct supervisor_config {
  std::string pipeline;                        // its id
  std::shared_ptr<const pipeline_spec> spec;
  std::shared_ptr<const json> input;          // given at creation (pipeline_created); null: none
  std::string workdir;                         // where commands run
  caf::actor journal;                          // invalid: in memory only, no rollback
  caf::actor gate;                             // limits concurrent commands; invalid: no limit
  std::shared_ptr<worker_factory> workers;     // null: local_workers
  caf::actor registry;                         // remote workers (registry.hpp); invalid: local only
  caf::actor worker_gate;                      // how jobs reach them (gate.hpp); invalid: local only
  std::function<void(const std::string&)> log; // refused results (once per run); may be null
  std::function<std::int64_t()> clock_ms;      // null: the system clock
  bool drive = true;                           // start what becomes startable by itself (owed
                                               // confirmations and re-runs are settled regardless)
  std::string by = "system";                   // who the supervisor's own decisions are by
  std::vector<caf::actor> watchers;            // watching from the first event on
  /// Recovery (rule 8): the state replayed from the journal (`replay`). The
  /// supervisor carries on from it instead of creating the pipeline: runs
  /// that were started and never ended are recorded `stage_interrupted` and
  /// become startable again.
  std::optional<system_state> recovered;
  /// Back-pressure (above): at least 1.
  std::uint64_t journal_backlog_events_max = journal_backlog_events_max_default;
  /// Hosted by a director that lets finished pipelines rest (director.hpp):
  /// once `may_rest` holds, nothing runs, nobody watches and every event is
  /// durable, the supervisor tells it (idle_atom, id, seq); asked
  /// (evict_atom, seq) -> bool, it quits if nothing changed since. Unset:
  /// it never rests.
  caf::actor_addr director;
  /// The seed of the retries' jitter recorded in `pipeline_created`
  /// (retry.hpp); 0: drawn at random when the pipeline is created.
  std::uint64_t seed = 0;
  /// Tests: check the core's invariants after every event applied, and stop
  /// the process (DAIRECTOR_ASSERT) at the first that breaks.
  bool check_invariants = false;
};

/// A pipeline that owes nothing and can do nothing by itself: finished
/// (done, failed or cancelled), no stage running, no confirmation pending.
/// Only a request (a context change, a rollback) makes it active again.
bool may_rest(const system_state& s);

/// Spawns a pipeline's supervisor. The pipeline is created (its
/// `pipeline_created` event applied and journaled) when the actor starts, or
/// recovered from `cfg.recovered`. `typed_supervisor` (interfaces.hpp) gives
/// the handle whose requests the compiler checks.
///
/// Watchers get a `state_update` per applied event, in seq order, and
/// `(journal_failed_atom, std::string why)` if the journal fails (the
/// pipeline then refuses starts; nothing unacknowledged was applied).
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_config cfg);

/// Gate: at most `limit` concurrent stage commands across pipelines.
///   (acquire) -> ok once a slot is free; (release)
caf::behavior command_gate(caf::event_based_actor* self, std::size_t limit);

}  // namespace dairector::actors
