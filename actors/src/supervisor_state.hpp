// The supervisor's insides (supervisor.hpp is its outside): what it keeps
// per pipeline, and the hook tests use to look at it. Not installed: an
// embedding program spawns supervisors with `spawn_supervisor` and talks
// to them through messages only.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "dairector/actors/supervisor.hpp"

namespace dairector::actors {

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
  std::int64_t retry_timer_at = 0;    // a retry timer is out for this time (0: none)
  /// Events sent to the journal and not yet known durable (0 without a journal).
  std::uint64_t backlog() const { return cfg.journal ? state.seq() - durable_seq : 0; }
  bool behind() const { return backlog() >= cfg.journal_backlog_events_max; }
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

/// The supervisor's behaviour (spawn_supervisor spawns it; the director
/// spawns it as its child).
caf::behavior supervisor(supervisor_actor* self, supervisor_config cfg);

/// The state of a supervisor, for tests under the test coordinator only.
const supervisor_state& inspect_supervisor(const caf::actor& a);

}  // namespace dairector::actors
