// The director hosts pipelines by id: it creates one supervisor per pipeline,
// answers where each lives, and owns what they share (the journal, the
// command gate, the workers). It holds no pipeline state itself.
//
//   (create_atom, id, spec, workdir[, input]) -> reply (ok once `pipeline_created` is
//                                    durable, unavailable if the journal failed, invalid
//                                    if the id exists); `input`, a shared_ptr<const json>,
//                                    is the pipeline's input (docs/protocol.md#the-input)
//   (recover_atom, system_state, workdir) -> reply: host a pipeline replayed
//                                    from the journal (rule 8; `serve` at start)
//   (recover_atom, id, name, seq, workdir, outcome) -> reply: know a finished
//                                    pipeline (may_rest) of the journal, resting:
//                                    no supervisor until it is asked for; `outcome`
//                                    is its pipeline_outcome as a uint8_t
//   (damaged_atom, id, name, seq, damaged_seq, reason) -> reply: know a pipeline
//                                    whose history cannot be trusted (`serve` at
//                                    start): listed, never run, every request for
//                                    it refused with the reason (errc::journal)
//   (lookup_atom, id)                -> caf::actor (the supervisor, rebuilt first
//                                    if it rests) or an error
//   (known_atom, id)                 -> true, or an error: unknown (errc::not_found)
//                                    or damaged (errc::journal); rebuilds nothing
//   (list_atom)                      -> std::vector<std::string> ids
//   (archive_atom, std::vector<std::string> ids) -> reply: forgets them (POST /archive,
//                                    before their events leave the journal), all or
//                                    none: each must rest with a finished outcome
//                                    (done, failed, cancelled); a live finished one is
//                                    asked to rest and answered `unavailable` (retry),
//                                    anything else `refused` or `not_found`
//   (summary_atom)                   -> std::vector<hosted_pipeline>, by id
//   (release_atom, id)               another server owns the pipeline now (a
//                                    shared journal, docs/cluster.md): its supervisor
//                                    stops (its runs are killed; the new owner
//                                    records them interrupted and runs them again),
//                                    requests waiting for it fail (errc::fenced), and
//                                    it is forgotten here
//   (stop_atom)                      stops every supervisor, then itself once they
//                                    are all gone (their last appends are then queued
//                                    at the journal); refuses new pipelines meanwhile
// Messages for a pipeline may also be routed through the director:
//   (id, caf::message request) is delegated to that pipeline's supervisor,
//   whose answer goes straight back to the requester.
//
// Resting (bounded memory in a long-running server): a supervisor whose
// pipeline is finished (outcome done, failed or cancelled), with nothing
// running, nothing pending, no watcher and every event durable tells the
// director (idle_atom, id, seq, outcome as a uint8_t). After `evict_after_ms` without a request
// routed to it the director asks it (evict_atom, seq) -> bool; it quits if
// nothing changed since, and the pipeline rests: only its id, name, seq and
// folder stay here. The next request for it (a route, a lookup, a control
// command, which may make it active again) rebuilds the supervisor from the
// journal's history (rule 8; a finished pipeline has no run to interrupt), and
// requests that arrive meanwhile wait for it, in order. Requests reach a
// supervisor only through the director, which stops routing to it before it
// asks it to quit: none is lost in between.
//
// Errors the director answers itself carry errc (result.hpp) as the code of
// the category `director_error_category`: see director_error, errc_of.
#pragma once

#include <caf/all.hpp>

#include <set>

#include "dairector/actors/supervisor.hpp"

namespace dairector::actors {

using archive_atom = caf::atom_constant<caf::atom("darchive")>;

/// Bounds (docs/contributing.md#habit-8-bound-everything).
inline constexpr std::size_t pipelines_max_default = 100'000;       // live supervisors
inline constexpr std::size_t pipelines_known_max_default = 10'000'000;  // live, resting and damaged
inline constexpr std::size_t waiting_requests_max = 1'000;  // per pipeline, while it is rebuilt or evicted
/// A finished pipeline rests after this long without a request (serve's --evict-after-ms).
inline constexpr std::int64_t evict_after_ms_default = 60'000;

struct director_config {
  caf::actor journal;                       // shared by every pipeline; may be invalid
  std::size_t command_limit = 8;            // concurrent stage commands, all pipelines
  std::size_t pipelines_max = pipelines_max_default;
  std::size_t pipelines_known_max = pipelines_known_max_default;
  std::shared_ptr<worker_factory> workers;  // null: local_workers
  caf::actor registry;                      // remote workers (registry.hpp); invalid: local only
  caf::actor worker_gate;                   // how jobs reach them (gate.hpp); invalid: local only
  std::function<void(const std::string&)> log;  // the supervisors' (refused results); may be null
  std::function<std::int64_t()> clock_ms;   // null: the system clock
  bool drive = true;
  /// Finished pipelines rest after this many ms without a request (0: at
  /// once; negative: never). Only with a journal to rebuild them from.
  std::int64_t evict_after_ms = evict_after_ms_default;
};

/// One pipeline as the director lists it (summary_atom).
struct hosted_pipeline {
  std::string id;
  std::string name;             // the spec's
  std::uint64_t seq = 0;        // its last event when it went to rest (live: ask `supervisor`)
  caf::actor supervisor;        // invalid while it rests or is damaged
  std::uint64_t damaged_seq = 0;  // damaged: the first event that cannot be trusted (0: not known)
  std::string damage;           // damaged: why; empty otherwise
  /// How it stands as the director last heard (to_string(pipeline_outcome)):
  /// resting, or live once it said it may rest; empty: ask `supervisor`.
  std::string outcome;
};

/// The category of the errors the director answers itself; the code is an errc.
inline const caf::atom_value director_error_category = caf::atom("dairector");
caf::error director_error(errc code, std::string sentence);
/// The errc of an error the director answered itself, if it is one.
std::optional<errc> errc_of(const caf::error& err);

struct director_state {
  static inline const char* name = "dairector.director";
  // What the director keeps of each pipeline: little while it rests.
  struct entry {
    enum phase_t : std::uint8_t { live, evicting, resting, rebuilding, damaged };
    phase_t phase = live;
    caf::actor sup;                // live and evicting; invalid otherwise
    std::string name;
    std::uint64_t seq = 0;         // at rest (or damaged: its last event)
    const std::string* workdir = nullptr;  // one of director_state::workdirs
    std::uint64_t idle_seq = 0;    // the supervisor said it is finished at this seq (0: not)
    std::uint8_t outcome = outcome_unknown;  // its pipeline_outcome when it said so, or at rest
    static constexpr std::uint8_t outcome_unknown = 0xff;
    std::uint32_t touched = 0;     // requests routed to it: an idle timer restarts when it changed
    std::vector<std::pair<caf::response_promise, caf::message>> waiting;  // while evicting or rebuilding
    std::shared_ptr<const std::pair<std::uint64_t, std::string>> damage;  // damaged: seq, why
  };
  director_config cfg;
  caf::actor gate;
  std::unordered_map<std::string, entry> pipelines;
  std::unordered_map<caf::actor_addr, std::string> ids;  // live supervisors, to forget one that ended
  std::set<std::string> workdirs;  // interned: pipelines share a few folders
  bool stopping = false;
};

using director_actor = caf::stateful_actor<director_state>;

caf::behavior director(director_actor* self, director_config cfg);

}  // namespace dairector::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<dairector::actors::hosted_pipeline>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<const dairector::json>)
