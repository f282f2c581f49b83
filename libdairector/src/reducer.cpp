#include "dairector/reducer.hpp"

#include "dairector/codec.hpp"
#include "dairector/retry.hpp"

#include <cstring>
#include <map>
#include <string_view>

namespace dairector {

// The functions on the path of every legal transition (the common checks, a
// start, a run's end, a context change) are always inlined: GCC at -O2 keeps
// them apart (they are called from two places), and one body without calls
// saves a prologue and a returned std::optional<error> per step.

namespace {

error refused(std::string message) { return make_error(errc::refused, std::move(message)); }

// Refusals are rare and their messages are strings built from several parts.
// Built out of line, they keep the legal path small: no string temporaries in
// its frame, no spills around them, every branch to a refusal marked unlikely.
// `make` is called at once: it may capture everything by reference.
template <class Make>
[[gnu::cold, gnu::noinline]] std::optional<error> refuse(const Make& make) {
  return make();
}

// Every event names its pipeline, so the ids are compared on every transition.
// They are short (a spec's name, a user's id): two overlapping word loads
// compare one of up to 16 bytes, where a call to libc's memcmp costs more than
// the comparison itself.
[[gnu::always_inline]] inline bool same_id(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  auto word = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  };
  auto half = [](const char* p) {
    std::uint32_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
  };
  const char* x = a.data();
  const char* y = b.data();
  if (n > 16) return std::memcmp(x, y, n) == 0;
  if (n >= 8) return word(x) == word(y) && word(x + n - 8) == word(y + n - 8);
  if (n >= 4) return half(x) == half(y) && half(x + n - 4) == half(y + n - 4);
  for (std::size_t k = 0; k < n; ++k)
    if (x[k] != y[k]) return false;
  return true;
}

std::string quoted_stage(const system_state& s, stage_index i) { return "'" + s.spec()[i].name + "'"; }

bool needs_stage(event_type t) {
  switch (t) {
    case event_type::pipeline_created:
    case event_type::rolled_back:
    case event_type::stage_cancelled:  // optional: absent = whole pipeline
      return false;
    case event_type::stage_started:
    case event_type::stage_completed:
    case event_type::stage_failed:
    case event_type::stage_interrupted:
    case event_type::result_discarded:
    case event_type::context_changed:
    case event_type::confirmation_requested:
    case event_type::confirmation_resolved:
    case event_type::rerun_requested:
    case event_type::retry_scheduled:
    case event_type::retry_requested:
      return true;
  }
  return true;
}

// Marks `d` outdated if it has run; a running stage is thereby fenced (rule 3).
[[gnu::always_inline]] inline void make_outdated(state_editor& ed, stage_index d, stage_index cause,
                                                outdated_reason why, std::uint64_t seq) {
  const stage_state& cur = ed.view().stage(d);
  if (cur.stored != run_status::running && cur.stored != run_status::completed &&
      cur.stored != run_status::failed)
    return;
  stage_state& st = ed.stage(d);
  st.stored = run_status::outdated;
  st.reason = why;
  st.cause = cause;
  st.since = seq;
  st.confirmed = false;
  st.tries = 0;  // new inputs: a fresh retry budget (a scheduled retry is moot: it is no longer failed)
}

// A confirmation about a stage that is no longer completed/failed is moot.
void drop_moot_confirmation(state_editor& ed) {
  const confirmation* c = ed.view().pending();
  if (!c) return;
  run_status st = ed.view().stage(c->stage).stored;
  if (st != run_status::completed && st != run_status::failed) ed.set_pending(nullptr);
}

[[gnu::noinline]] std::optional<error> apply_created(state_editor& ed, const event& e) {
  if (!e.spec) return refused("pipeline_created without a spec");
  if (e.pipeline.empty()) return refused("pipeline_created without a pipeline id");
  if (e.seq != 1) return refused("pipeline_created must be seq 1, got " + std::to_string(e.seq));
  ed.assign(system_state::created(e.spec, e.pipeline, e.seq, e.seed, e.payload));
  return std::nullopt;
}

[[gnu::always_inline]] inline std::optional<error> apply_started(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  const stage_index i = e.stage;
  if (const confirmation* c = s.pending())
    return refuse([&] { return make_error(errc::blocked, "blocked: waiting for confirmation: " + c->message); });
  const stage_state& cur = s.stage(i);
  if (cur.stored == run_status::running)
    return refuse([&] {
      return refused("stage " + quoted_stage(s, i) + " is already running (run " + std::to_string(cur.run) + ")");
    });
  if (cur.stored == run_status::completed)
    return refuse([&] { return refused("stage " + quoted_stage(s, i) + " is already completed"); });
  const pipeline_spec& sp = s.spec();
  for (stage_index up : sp[i].after) {
    // Only a stored `completed` shows as completed: status() is needed only
    // to name what the upstream is instead.
    if (s.stage(up).stored != run_status::completed)
      return refuse([&] {
        return refused("stage " + quoted_stage(s, i) + " cannot start: upstream " + quoted_stage(s, up) +
                       " is " + to_string(s.status(up)));
      });
    if (sp[up].confirm && !s.stage(up).confirmed)
      return refuse([&] {
        return refused("stage " + quoted_stage(s, i) + " cannot start: upstream " + quoted_stage(s, up) +
                       " is not confirmed");
      });
  }
  if (e.run != e.seq)
    return refuse([&] {
      return refused("a start's run id must be fresh: the seq of its event (" + std::to_string(e.seq) +
                     "), got " + std::to_string(e.run));
    });
  if (cur.attempt >= stage_attempts_max)
    return refuse([&] {
      return refused("stage " + quoted_stage(s, i) + " was started " + std::to_string(cur.attempt) +
                     " times, the limit");
    });
  if (cur.stored == run_status::failed) [[unlikely]] {
    // A scheduled retry starts when it is due, not sooner (a replay agrees:
    // both times are in the history).
    if (const std::int64_t due = s.retry_at(i); e.at_ms < due)
      return refuse([&] {
        return refused("stage " + quoted_stage(s, i) + " retries at " + format_time(due) + ", not before (" +
                       std::to_string(due - e.at_ms) + " ms from " + format_time(e.at_ms) + ")");
      });
  }
  stage_state& st = ed.stage(i);
  st.stored = run_status::running;
  st.run = e.run;
  st.since = e.seq;
  st.attempt += 1;
  st.reason = outdated_reason::none;
  st.cause = no_stage;
  st.confirmed = false;
  st.given_up = false;
  if (st.tries < 0xFFFF) st.tries += 1;
  return std::nullopt;
}

std::string not_live(const system_state& s, stage_index i, std::uint64_t run) {
  const stage_state& cur = s.stage(i);
  std::string why = "run " + std::to_string(run) + " of stage " + quoted_stage(s, i) + " is not live (stage is " +
                    to_string(s.status(i));
  if (cur.stored == run_status::running) why += ", live run " + std::to_string(cur.run);
  return why + ")";
}

// A run's end (completed, failed, interrupted, one stage cancelled): legal
// only for the stage's live run (rule 3).
[[gnu::always_inline]] inline std::optional<error> check_result(const system_state& s, const event& e) {
  if (!s.is_live_run(e.stage, e.run))
    return refuse([&] {
      const stage_state& cur = s.stage(e.stage);
      if (e.type == event_type::stage_cancelled && cur.stored == run_status::completed)
        return refused("stage " + quoted_stage(s, e.stage) + " is already completed");
      if (e.type == event_type::stage_cancelled && cur.stored != run_status::running)
        return refused("stage " + quoted_stage(s, e.stage) + " is not running (it is " +
                       to_string(s.status(e.stage)) + ")");
      return refused(not_live(s, e.stage, e.run));
    });
  if (e.type == event_type::stage_completed && !e.payload)
    return refuse([] { return refused("stage_completed without an output"); });
  return std::nullopt;
}

[[gnu::always_inline]] inline std::optional<error> apply_result(state_editor& ed, const event& e) {
  if (auto err = check_result(ed.view(), e)) return err;
  stage_state& st = ed.stage(e.stage);
  st.since = e.seq;
  switch (e.type) {
    case event_type::stage_completed: {
      st.stored = run_status::completed;
      st.reruns = 0;
      st.given_up = false;
      st.tries = 0;
      stage_payload& p = ed.payload(e.stage);
      p.output = e.payload;
      p.error = nullptr;
      break;
    }
    case event_type::stage_failed: {
      st.stored = run_status::failed;
      stage_payload& p = ed.payload(e.stage);
      p.error = std::make_shared<const std::string>(e.text);
      p.retry_at_ms = 0;  // none scheduled yet for this failure
      break;
    }
    case event_type::stage_cancelled: st.stored = run_status::cancelled; break;
    case event_type::stage_interrupted: st.stored = run_status::idle; break;
    case event_type::pipeline_created:
    case event_type::stage_started:
    case event_type::result_discarded:
    case event_type::context_changed:
    case event_type::confirmation_requested:
    case event_type::confirmation_resolved:
    case event_type::rolled_back:
    case event_type::rerun_requested:
    case event_type::retry_scheduled:
    case event_type::retry_requested:
      DAIRECTOR_ASSERT(false, "apply_result called for an event that ends no run");
  }
  return std::nullopt;
}

std::optional<error> apply_cancel_all(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  auto cancellable = [&](stage_index i) {
    run_status st = s.stage(i).stored;
    return st != run_status::completed && st != run_status::cancelled;
  };
  bool any = false;
  for (stage_index i = 0; i < s.size() && !any; ++i) any = cancellable(i);
  if (!any) return refused("nothing to cancel: every stage is completed or cancelled");
  for (stage_index i = 0; i < s.size(); ++i) {
    if (!cancellable(i)) continue;
    stage_state& w = ed.stage(i);
    w.stored = run_status::cancelled;
    w.since = e.seq;
    w.reason = outdated_reason::none;  // an outdated stage keeps no outdated cause once cancelled
    w.cause = no_stage;
  }
  drop_moot_confirmation(ed);
  return std::nullopt;
}

std::optional<error> apply_discarded(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  if (e.run == 0 || e.run >= e.seq)
    return refused("result_discarded names run " + std::to_string(e.run) + ", which was never started");
  if (s.is_live_run(e.stage, e.run))
    return refused("run " + std::to_string(e.run) + " of stage " + quoted_stage(s, e.stage) +
                   " is live: its result must be applied, not discarded");
  if (e.text != "completed" && e.text != "failed")
    return refused("result_discarded outcome must be \"completed\" or \"failed\", got '" + e.text + "'");
  return std::nullopt;
}

[[gnu::always_inline]] inline std::optional<error> apply_context(state_editor& ed, const event& e) {
  if (!e.payload) return refuse([] { return refused("context_changed without a context"); });
  ed.payload(e.stage).context = e.payload;
  // Rule 7: only strictly downstream, never upstream.
  for (stage_index d : ed.view().spec()[e.stage].downstream)
    make_outdated(ed, d, e.stage, outdated_reason::context, e.seq);
  drop_moot_confirmation(ed);
  return std::nullopt;
}

bool retry_exhausted(const system_state& s, stage_index i) {
  const auto& policy = s.spec()[i].on_failure;
  const stage_state& st = s.stage(i);
  return policy && st.stored == run_status::failed && st.reruns >= policy->max_attempts && !st.given_up;
}

std::optional<error> apply_requested(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  if (const confirmation* c = s.pending())
    return refused("a confirmation is already pending: " + c->message);
  const stage_state& st = s.stage(e.stage);
  bool asks = st.stored == run_status::completed && s.spec()[e.stage].confirm && !st.confirmed;
  if (!asks && !retry_exhausted(s, e.stage))
    return refused("stage " + quoted_stage(s, e.stage) + " has nothing to confirm");
  if (e.text.empty()) return refused("confirmation_requested without a message");
  ed.set_pending(std::make_shared<const confirmation>(confirmation{e.stage, e.seq, e.text}));
  return std::nullopt;
}

std::optional<error> apply_resolved(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  const confirmation* c = s.pending();
  if (!c) return refused("no confirmation is pending");
  if (c->stage != e.stage)
    return refused("the pending confirmation is for stage " + quoted_stage(s, c->stage) + ", not " +
                   quoted_stage(s, e.stage));
  const stage_index i = e.stage;
  const bool was_completed = s.stage(i).stored == run_status::completed;
  stage_state& st = ed.stage(i);
  if (was_completed) {
    if (e.approved) {
      st.confirmed = true;
    } else {
      st.stored = run_status::outdated;
      st.reason = outdated_reason::rejected;
      st.cause = i;
      st.since = e.seq;
    }
  } else if (e.approved) {
    st.reruns = 0;  // another round of re-runs
  } else {
    st.given_up = true;
  }
  ed.set_pending(nullptr);
  return std::nullopt;
}

std::optional<error> apply_rerun(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  const auto& policy = s.spec()[e.stage].on_failure;
  if (!policy) return refused("stage " + quoted_stage(s, e.stage) + " has no on_failure policy");
  if (e.rerun != policy->rerun)
    return refused("stage " + quoted_stage(s, e.stage) + " re-runs " + quoted_stage(s, policy->rerun) +
                   ", not the stage named by the event");
  const stage_state& cur = s.stage(e.stage);
  if (cur.stored != run_status::failed)
    return refused("stage " + quoted_stage(s, e.stage) + " is not failed (it is " + to_string(s.status(e.stage)) + ")");
  if (cur.given_up || cur.reruns >= policy->max_attempts)
    return refused("stage " + quoted_stage(s, e.stage) + " has used its " + std::to_string(policy->max_attempts) +
                   " re-runs");
  ed.stage(e.stage).reruns += 1;
  // Everything fed by the re-run stage is stale once it runs again, so the
  // cascade covers all of its downstream, not only the path to this stage.
  make_outdated(ed, e.rerun, e.stage, outdated_reason::rerun, e.seq);
  for (stage_index d : s.spec()[e.rerun].downstream) make_outdated(ed, d, e.stage, outdated_reason::rerun, e.seq);
  drop_moot_confirmation(ed);
  return std::nullopt;
}

// run.retry: the system schedules the failed run's retry; its delay must be
// the policy's for this pipeline's seed (retry.hpp), so replays agree.
std::optional<error> apply_retry_scheduled(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  const auto& policy = s.spec()[e.stage].retry;
  if (!policy) return refused("stage " + quoted_stage(s, e.stage) + " has no run.retry policy");
  const stage_state& cur = s.stage(e.stage);
  if (cur.stored != run_status::failed)
    return refused("stage " + quoted_stage(s, e.stage) + " is not failed (it is " + to_string(s.status(e.stage)) + ")");
  if (e.run != cur.run)
    return refused("retry_scheduled names run " + std::to_string(e.run) + ", but the failed run of stage " +
                   quoted_stage(s, e.stage) + " is " + std::to_string(cur.run));
  if (s.retry_at(e.stage) != 0)
    return refused("stage " + quoted_stage(s, e.stage) + " already has a retry at " + format_time(s.retry_at(e.stage)));
  if (cur.tries >= policy->max_attempts)
    return refused("stage " + quoted_stage(s, e.stage) + " has used its " + std::to_string(policy->max_attempts) +
                   " attempts (run.retry.max_attempts)");
  const std::uint64_t want = retry_delay_ms(*policy, s.seed(), e.stage, cur.tries);
  if (e.delay_ms != want)
    return refused("retry_scheduled for stage " + quoted_stage(s, e.stage) + " waits " + std::to_string(e.delay_ms) +
                   " ms, but its policy says " + std::to_string(want) + " ms");
  ed.payload(e.stage).retry_at_ms = e.at_ms + static_cast<std::int64_t>(e.delay_ms);
  return std::nullopt;
}

// A user makes a failed or cancelled stage startable again, with every
// failed or cancelled stage downstream of it (docs/events.md#retry_requested).
std::optional<error> apply_retry_requested(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  const stage_index i = e.stage;
  if (const confirmation* c = s.pending())
    return make_error(errc::blocked, "blocked: waiting for confirmation: " + c->message +
                                         " (answer it before retrying stage " + quoted_stage(s, i) + ")");
  const stage_state& cur = s.stage(i);
  switch (cur.stored) {
    case run_status::failed:
    case run_status::cancelled: break;
    case run_status::running:
      return refused("stage " + quoted_stage(s, i) + " is running (run " + std::to_string(cur.run) +
                     "): there is nothing to retry");
    case run_status::completed: return refused("stage " + quoted_stage(s, i) + " is completed: there is nothing to retry");
    case run_status::idle:
    case run_status::outdated:
      return refused("stage " + quoted_stage(s, i) + " is " + to_string(s.status(i)) +
                     ": only a failed or cancelled stage can be retried");
  }
  if (cur.run == 0)
    return refused("stage " + quoted_stage(s, i) + " never ran: only a stage that failed or was cancelled can be retried");
  auto reset = [&](stage_index k) {
    stage_state& st = ed.stage(k);
    st.stored = run_status::idle;
    st.since = e.seq;
    st.tries = 0;
    st.reruns = 0;
    st.given_up = false;
  };
  reset(i);
  for (stage_index d : s.spec()[i].downstream) {
    const run_status st = s.stage(d).stored;
    if (st == run_status::failed || st == run_status::cancelled) reset(d);
  }
  return std::nullopt;
}

std::optional<error> apply_rollback(state_editor& ed, const event& e) {
  const system_state& s = ed.view();
  if (!e.target) return refused("rolled_back to seq " + std::to_string(e.to) + " was not resolved against the history");
  const system_state& t = *e.target;
  if (e.to < 1 || e.to >= e.seq)
    return refused("cannot roll back to seq " + std::to_string(e.to) + ": it must be between 1 and " +
                   std::to_string(e.seq - 1));
  if (t.empty() || t.seq() != e.to || t.pipeline() != s.pipeline())
    return refused("the rollback target is not this pipeline's state at seq " + std::to_string(e.to));
  const system_state before = s;  // shares everything; only read below
  ed.assign_stages_from(t);
  ed.set_pending(t.pending() ? std::make_shared<const confirmation>(*t.pending()) : nullptr);
  for (stage_index i = 0; i < before.size(); ++i) {
    const stage_state& restored = ed.view().stage(i);
    // A run live at `to` is not live now: its worker is gone or fenced.
    if (restored.stored == run_status::running) {
      stage_state& st = ed.stage(i);
      st.stored = run_status::idle;
      st.since = e.seq;
    } else if (!(restored == before.stage(i))) {
      ed.stage(i).since = e.seq;
    }
  }
  return std::nullopt;
}

}  // namespace

namespace {

[[gnu::always_inline]] inline std::optional<error> transition(state_editor& ed, const event& e) {
  switch (e.type) {
    case event_type::stage_started: return apply_started(ed, e);
    case event_type::stage_completed:
    case event_type::stage_failed:
    case event_type::stage_interrupted: return apply_result(ed, e);
    case event_type::stage_cancelled:
      return e.stage != no_stage ? apply_result(ed, e) : apply_cancel_all(ed, e);
    case event_type::result_discarded: return apply_discarded(ed, e);
    case event_type::context_changed: return apply_context(ed, e);
    case event_type::confirmation_requested: return apply_requested(ed, e);
    case event_type::confirmation_resolved: return apply_resolved(ed, e);
    case event_type::rerun_requested: return apply_rerun(ed, e);
    case event_type::rolled_back: return apply_rollback(ed, e);
    case event_type::retry_scheduled: return apply_retry_scheduled(ed, e);
    case event_type::retry_requested: return apply_retry_requested(ed, e);
    case event_type::pipeline_created: break;
  }
  return refused("unknown event type");
}

}  // namespace

namespace {

// What every event on a created pipeline must satisfy.
[[gnu::always_inline]] inline std::optional<error> check_common(const system_state& state, const event& e) {
  if (e.type == event_type::pipeline_created)
    return refuse([&] { return refused("pipeline '" + state.pipeline() + "' already exists"); });
  if (e.seq != state.seq() + 1)
    return refuse([&] {
      return refused("event seq " + std::to_string(e.seq) + " does not follow seq " + std::to_string(state.seq()));
    });
  if (!same_id(e.pipeline, state.pipeline()))
    return refuse([&] {
      return refused("event for pipeline '" + e.pipeline + "' applied to pipeline '" + state.pipeline() + "'");
    });
  const bool has_stage = e.stage != no_stage;
  if (has_stage && e.stage >= state.size())
    return refuse([&] { return refused("stage index " + std::to_string(e.stage) + " is out of range"); });
  if (!has_stage && needs_stage(e.type))
    return refuse([&] { return refused(std::string(to_string(e.type)) + " without a stage"); });
  return std::nullopt;
}

bool ends_a_run(const event& e) {
  switch (e.type) {
    case event_type::stage_completed:
    case event_type::stage_failed:
    case event_type::stage_interrupted: return true;
    case event_type::stage_cancelled: return e.stage != no_stage;
    case event_type::pipeline_created:
    case event_type::stage_started:
    case event_type::result_discarded:
    case event_type::context_changed:
    case event_type::confirmation_requested:
    case event_type::confirmation_resolved:
    case event_type::rolled_back:
    case event_type::rerun_requested:
    case event_type::retry_scheduled:
    case event_type::retry_requested: return false;
  }
  return false;
}

}  // namespace

// Every transition checks everything before its first write, so a refusal
// leaves the state exactly as it was.
std::optional<error> apply_in_place(system_state& state, const event& e) {
  state_editor ed(std::ref(state));
  if (state.empty()) [[unlikely]] {
    if (e.type != event_type::pipeline_created)
      return refuse([&] { return refused(std::string(to_string(e.type)) + " before pipeline_created"); });
    return apply_created(ed, e);
  }
  if (auto err = check_common(state, e)) return err;
  if (auto err = transition(ed, e)) return err;
  ed.set_seq(e.seq);
  return std::nullopt;
}

std::optional<error> check(const system_state& state, const event& e) {
  // The end of a run is checked without a copy: it is the supervisor's
  // per-completion path (validated before it is written, rule 5).
  if (!state.empty() && ends_a_run(e)) {
    if (auto err = check_common(state, e)) return err;
    return check_result(state, e);
  }
  system_state scratch = state;
  return apply_in_place(scratch, e);
}

result<system_state> apply(system_state state, const event& e) {
  if (auto err = apply_in_place(state, e)) return *err;
  return state;
}

namespace {

result<system_state> fold_prefix(std::span<const event> events, std::uint64_t upto) {
  // The states that unresolved rollbacks return to, kept as the fold passes
  // them. Re-folding the prefix for each rollback instead costs time
  // exponential in the number of rollbacks (each re-fold re-folds the earlier ones).
  std::map<std::uint64_t, std::shared_ptr<const system_state>> targets;
  for (std::uint64_t k = 0; k < upto; ++k)
    if (events[k].type == event_type::rolled_back && !events[k].target) targets.emplace(events[k].to, nullptr);
  system_state s;
  for (std::uint64_t k = 0; k < upto; ++k) {
    const event& e = events[k];
    result<system_state> next = [&]() -> result<system_state> {
      if (e.type != event_type::rolled_back || e.target) return apply(std::move(s), e);
      if (e.to < 1 || e.to >= e.seq || e.to > k)
        return refused("cannot roll back to seq " + std::to_string(e.to));
      event resolved = e;
      resolved.target = targets.at(e.to);  // set when the fold passed it: e.to <= k
      return apply(std::move(s), resolved);
    }();
    if (!next)
      return make_error(next.err().code, "event seq " + std::to_string(e.seq) + " (" + to_string(e.type) +
                                             "): " + next.err().message);
    s = std::move(*next);
    if (auto it = targets.find(k + 1); it != targets.end()) it->second = std::make_shared<const system_state>(s);
  }
  return s;
}

}  // namespace

result<system_state> fold(std::span<const event> events) { return fold_prefix(events, events.size()); }

result<system_state> state_at(std::span<const event> events, std::uint64_t seq) {
  if (seq > events.size())
    return make_error(errc::not_found, "no event with seq " + std::to_string(seq) + " (the history ends at " +
                                           std::to_string(events.size()) + ")");
  return fold_prefix(events, seq);
}

}  // namespace dairector
