// SystemState (docs/design.md#the-model): an immutable value holding one
// pipeline's state. It is changed only by `apply` (reducer.hpp), which returns a
// new value; the old one is never touched.
//
// Layout, chosen so a transition costs little and never deep-copies payloads:
// - per-stage bookkeeping is a flat array of small trivially-copyable records,
//   shared between states until one of them changes it;
// - outputs, contexts and errors are `shared_ptr<const …>` in a separate table
//   that is shared untouched by every transition that does not change a payload;
// - the spec and pipeline id are shared by every state of the pipeline.
// A state whose parts are not shared with any other state (its owner moved it
// into `apply`) is updated in place: nobody else can observe it, so value
// semantics hold (copy-on-write, as a transient in persistent data structures).
//
// Nothing derivable is stored: `pending` vs `ready`, the current stage and the
// pipeline's outcome are computed from the stored facts.
#pragma once

#include <cstdint>
#include <functional>
#include <type_traits>
#include <memory>
#include <optional>
#include <string>

#include "dairector/spec.hpp"

namespace dairector {

/// The statuses of docs/events.md#stage-statuses, as users see them.
enum class stage_status : std::uint8_t { pending, ready, running, completed, failed, cancelled, outdated };
const char* to_string(stage_status s);

/// What is stored per stage. `idle` is shown as `pending` or `ready`.
enum class run_status : std::uint8_t { idle, running, completed, failed, cancelled, outdated };

/// Why a stage is `outdated`.
enum class outdated_reason : std::uint8_t {
  none,
  context,   // a context change on `cause`, a strict upstream
  rejected,  // its own confirmation was rejected (`cause` is the stage itself)
  rerun,     // `cause` failed and its on_failure loop re-runs this stage
};

struct stage_state {
  std::uint64_t run = 0;     // latest run id (the seq of its stage_started); 0 = never started
  std::uint64_t since = 0;   // seq of the event that last changed `stored`
  stage_index cause = no_stage;  // when outdated: the stage whose change made it so
  std::uint32_t attempt = 0;     // how many times the stage was started
  std::uint16_t reruns = 0;      // on_failure: reruns requested since the last approval
  run_status stored = run_status::idle;
  outdated_reason reason = outdated_reason::none;
  bool confirmed = false;    // the confirmation asked after its latest completion was approved
  bool given_up = false;     // on_failure exhausted and the retry was rejected
  std::uint16_t tries = 0;   // run.retry: runs since it last completed or its budget was reset
  bool operator==(const stage_state&) const = default;
};
static_assert(sizeof(stage_state) == 32, "stage_state is copied on every transition: keep it small");
static_assert(std::is_trivially_copyable_v<stage_state>, "stage arrays are copied with memcpy");

struct stage_payload {
  std::shared_ptr<const json> output;        // latest completed output
  std::shared_ptr<const json> context;       // set by context_changed
  std::shared_ptr<const std::string> error;  // latest failure
  // run.retry: when the scheduled retry may start (ms since the epoch; 0 =
  // none). Meaningful only while the stage is stored `failed`: any change of
  // status makes it moot, so nothing on the hot path has to clear it.
  std::int64_t retry_at_ms = 0;
};

/// The pending confirmation: the global lock (rule 2).
struct confirmation {
  stage_index stage = no_stage;
  std::uint64_t requested_seq = 0;
  std::string message;
};

/// How a pipeline stands when nothing more can happen by itself (plan.hpp).
class state_editor;

class system_state {
public:
  /// The state before `pipeline_created`: no spec, seq 0.
  system_state() = default;

  bool empty() const noexcept { return info_ == nullptr; }
  const pipeline_spec& spec() const { return *info_->spec; }
  const std::shared_ptr<const pipeline_spec>& spec_ptr() const { return info_->spec; }
  const std::string& pipeline() const { return info_->id; }
  /// The pipeline's input given at creation (the same for every stage), or null.
  const std::shared_ptr<const json>& input() const { return info_->input; }
  std::uint64_t seq() const noexcept { return seq_; }
  std::size_t size() const noexcept { return info_ ? info_->size : 0; }
  /// The seed of the retries' jitter, from `pipeline_created` (retry.hpp).
  std::uint64_t seed() const noexcept { return info_ ? info_->seed : 0; }

  const stage_state& stage(stage_index i) const { return stages_[i]; }
  const stage_payload& payload(stage_index i) const { return (*payloads_)[i]; }
  /// The pending confirmation, or nullptr.
  const confirmation* pending() const noexcept { return pending_.get(); }

  /// The user-visible status (derives pending/ready).
  stage_status status(stage_index i) const;
  /// True if every direct upstream is completed and, where it asks for a
  /// confirmation, approved.
  bool upstream_done(stage_index i) const;
  /// True if `run` is the live run of a running stage (rule 3).
  bool is_live_run(stage_index i, std::uint64_t run) const noexcept {
    return stages_[i].stored == run_status::running && stages_[i].run == run;
  }
  /// When the stage's scheduled retry may start, or 0 if it has none.
  std::int64_t retry_at(stage_index i) const noexcept {
    return stages_[i].stored == run_status::failed ? (*payloads_)[i].retry_at_ms : 0;
  }

  /// A new state for a freshly created pipeline.
  static system_state created(std::shared_ptr<const pipeline_spec> spec, std::string pipeline, std::uint64_t seq,
                              std::uint64_t seed = 0, std::shared_ptr<const json> input = nullptr);

  /// True if the two states hold the same facts (payloads compared by value).
  friend bool same_facts(const system_state& a, const system_state& b);

private:
  friend class state_editor;
  struct info {
    std::shared_ptr<const pipeline_spec> spec;
    std::string id;
    std::size_t size;  // spec->size(), read on every transition (bounds check)
    std::uint64_t seed;
    std::shared_ptr<const json> input;  // pipeline_created's, or null
  };
  std::shared_ptr<const info> info_;
  std::shared_ptr<stage_state[]> stages_;                 // never written once shared
  std::shared_ptr<std::vector<stage_payload>> payloads_;  // never written once shared
  std::shared_ptr<const confirmation> pending_;
  std::uint64_t seq_ = 0;
};

/// The only way to change a state. Either own a value (edit it, then take the
/// result) or edit a caller's state in place. Parts still shared with another
/// state are copied on first write, so no other holder ever sees a change.
class state_editor {
public:
  explicit state_editor(system_state base) : own_(std::move(base)), s_(*own_) {}
  explicit state_editor(std::reference_wrapper<system_state> target) : s_(target.get()) {}
  state_editor(const state_editor&) = delete;
  state_editor& operator=(const state_editor&) = delete;

  const system_state& view() const noexcept { return s_; }
  stage_state& stage(stage_index i) {
    if (!stages_owned_) own_stages();
    return s_.stages_[i];
  }
  stage_payload& payload(stage_index i) {
    if (!payloads_owned_) own_payloads();
    return (*s_.payloads_)[i];
  }
  void set_pending(std::shared_ptr<const confirmation> c) { s_.pending_ = std::move(c); }
  void set_seq(std::uint64_t seq) noexcept { s_.seq_ = seq; }
  /// Replaces every stage and payload (rollback).
  void assign_stages_from(const system_state& other);
  /// Replaces the whole state (a pipeline is created).
  void assign(system_state other) { s_ = std::move(other); stages_owned_ = payloads_owned_ = false; }

  system_state take() && { return std::move(s_); }

private:
  // First write: a part still shared is copied; one held alone is kept. The
  // check is inline (it runs on every transition), the copy is not.
  void own_stages() {
    if (s_.stages_.use_count() != 1) copy_stages();
    stages_owned_ = true;
  }
  void own_payloads() {
    if (s_.payloads_.use_count() != 1) copy_payloads();
    payloads_owned_ = true;
  }
  void copy_stages();
  void copy_payloads();
  // Empty when editing in place, so that path neither builds nor destroys a
  // state of its own.
  std::optional<system_state> own_;
  system_state& s_;
  bool stages_owned_ = false;
  bool payloads_owned_ = false;
};

/// The object of `status --json` (docs/cli.md#the-state-as-json), stages in topological order.
json state_to_json(const system_state& s);

}  // namespace dairector
