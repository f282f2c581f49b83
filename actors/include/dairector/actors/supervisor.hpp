// One supervisor actor per pipeline: the only writer of its `system_state`
// (docs/design.md#rule-1-one-writer). Every request is a message; each handler turns it into an
// event (or a refusal) and hands the event to the core's `apply`. Policy —
// what may start, what confirmation is owed, the on_failure loop — comes from
// plan.hpp; the supervisor only asks and obeys.
//
// Requests (each answers a `reply` unless noted):
//   (start_atom, stage, by)            start one stage now
//   (cancel_atom, stage, by)           cancel one running stage; "" = the pipeline
//   (context_atom, stage, json, by)    context change on a stage (cascade)
//   (resolve_atom, approved, note, by) confirm or reject the pending confirmation
//   (rollback_atom, seq, by)           return to the state after seq (needs a journal)
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
};

/// A pipeline that owes nothing and can do nothing by itself: finished
/// (done, failed or cancelled), no stage running, no confirmation pending.
/// Only a request (a context change, a rollback) makes it active again.
bool may_rest(const system_state& s);

struct live_run {
  stage_index stage = no_stage;
  caf::actor worker;
  pid_t pgid = 0;           // a command's process group, once known
  bool holds_slot = false;  // took a slot from the gate
  bool killed = false;
  bool remote = false;      // on a worker process (registry.hpp): only it may answer
  std::string capability;   // what its result must carry (secret.hpp); never in events or the journal
  bool refusal_logged = false;  // a result without it was logged (once per run)
};

/// The live runs of one pipeline, by run id: at most one per stage, so a
/// flat vector (no node allocation per run, unlike a hash map).
class run_table {
 public:
  using entry = std::pair<std::uint64_t, live_run>;
  using iterator = std::vector<entry>::iterator;
  iterator begin() { return runs_.begin(); }
  iterator end() { return runs_.end(); }
  iterator find(std::uint64_t run) {
    return std::find_if(runs_.begin(), runs_.end(), [run](const entry& x) { return x.first == run; });
  }
  live_run& operator[](std::uint64_t run) {
    auto it = find(run);
    return it != end() ? it->second : runs_.emplace_back(run, live_run{}).second;
  }
  iterator erase(iterator it) { return runs_.erase(it); }
  std::size_t size() const { return runs_.size(); }

 private:
  std::vector<entry> runs_;
};

/// A client's answer kept until the journal confirms the event it acknowledges.
struct owed_answer {
  std::uint64_t seq = 0;  // durable up to here, then `answer` goes out
  reply answer;
  caf::typed_response_promise<reply> promise;
};

struct supervisor_state {
  static inline const char* name = "dairector.supervisor";
  supervisor_config cfg;
  system_state state;
  run_table runs;
  actors::shared_workers shared_workers;
  std::vector<caf::actor> watchers;
  std::string journal_error;  // set once the journal failed: no more starts
  std::vector<std::string> run_texts;          // each stage's run object as JSON text, for remote jobs
  std::vector<caf::actor_addr> remote_workers; // monitored (once each) until they go down
  std::uint64_t durable_seq = 0;  // the journal acknowledged every event up to it
  bool sync_asked = false;        // a (journal_sync_atom) is out: at most one
  /// Answers waiting for their event to be durable, in the order their
  /// commands came: one per accepted command (each waits on an event of the
  /// backlog, and commands are accepted only under the bound) and one per
  /// creation, so about `journal_backlog_events_max` at most.
  std::vector<owed_answer> owed;
  std::uint64_t idle_told = 0;    // the director was told it may rest at this seq (0: not)
  std::uint64_t results_refused = 0;  // results without their run's capability, or from elsewhere
  /// Events sent to the journal and not yet known durable (0 without a journal).
  std::uint64_t backlog() const { return cfg.journal ? state.seq() - durable_seq : 0; }
  bool behind() const { return backlog() >= cfg.journal_backlog_events_max; }
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

/// Spawn with `sys.spawn(supervisor, cfg)`. The pipeline is created (its
/// `pipeline_created` event applied and journaled) when the actor starts, or
/// recovered from `cfg.recovered`.
///
/// Watchers get a `state_update` per applied event, in seq order, and
/// `(journal_failed_atom, std::string why)` if the journal fails (the
/// pipeline then refuses starts; nothing unacknowledged was applied).
caf::behavior supervisor(supervisor_actor* self, supervisor_config cfg);

/// The state of a supervisor, for tests under the test coordinator only.
const supervisor_state& inspect_supervisor(const caf::actor& a);

/// Gate: at most `limit` concurrent stage commands across pipelines.
///   (acquire) -> ok once a slot is free; (release)
caf::behavior command_gate(caf::event_based_actor* self, std::size_t limit);

}  // namespace dairector::actors
