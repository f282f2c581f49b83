#include "dairector/invariants.hpp"

#include <unordered_map>

#include "dairector/reducer.hpp"

namespace dairector {

std::vector<std::string> check_invariants(const system_state& s) {
  std::vector<std::string> out;
  if (s.empty()) {
    if (s.seq() != 0) out.push_back("an empty state has seq " + std::to_string(s.seq()));
    return out;
  }
  const pipeline_spec& sp = s.spec();
  auto name = [&](stage_index i) { return "'" + sp[i].name + "'"; };
  auto fail = [&](stage_index i, const std::string& what) { out.push_back("stage " + name(i) + ": " + what); };
  const confirmation* pending = s.pending();
  std::unordered_map<std::uint64_t, stage_index> live_runs;

  for (stage_index i = 0; i < s.size(); ++i) {
    const stage_state& st = s.stage(i);
    const bool has_run = st.stored == run_status::running || st.stored == run_status::completed;
    // Running and completed need every upstream completed (ready does by definition).
    if (has_run)
      for (stage_index up : sp[i].after)
        if (s.stage(up).stored != run_status::completed)
          fail(i, std::string(to_string(s.status(i))) + " while upstream " + name(up) + " is " +
                      to_string(s.status(up)));
    if (st.run > s.seq()) fail(i, "run " + std::to_string(st.run) + " is after the last seq");
    if (st.since > s.seq()) fail(i, "changed at seq " + std::to_string(st.since) + ", after the last seq");
    if (st.stored != run_status::idle && st.attempt == 0 && st.stored != run_status::cancelled)
      fail(i, std::string(to_string(s.status(i))) + " but never started");
    if (st.attempt > stage_attempts_max) fail(i, "started more often than the limit");
    if (st.stored == run_status::running) {
      // Exactly one live run, unique in the pipeline.
      if (st.run == 0) fail(i, "running without a run id");
      auto [it, fresh] = live_runs.emplace(st.run, i);
      if (!fresh) fail(i, "shares live run " + std::to_string(st.run) + " with stage " + name(it->second));
      // No stage became running while a confirmation was pending (run = seq of its start).
      if (pending && st.run > pending->requested_seq)
        fail(i, "started (seq " + std::to_string(st.run) + ") while a confirmation was pending");
    }
    if (st.stored == run_status::completed && !s.payload(i).output) fail(i, "completed without an output");
    if (st.confirmed && (!sp[i].confirm || st.stored != run_status::completed))
      fail(i, "marked confirmed but it is not a completed stage that asks for confirmation");
    if (sp[i].on_failure) {
      if (st.reruns > sp[i].on_failure->max_attempts) fail(i, "re-ran more often than on_failure allows");
    } else if (st.reruns != 0 || st.given_up) {
      fail(i, "has on_failure bookkeeping but no on_failure policy");
    }
    if (const std::int64_t due = s.retry_at(i)) {
      if (!sp[i].retry) fail(i, "has a retry scheduled but no run.retry policy");
      else if (st.tries > sp[i].retry->max_attempts) fail(i, "retries more often than run.retry allows");
      if (due < 0) fail(i, "has a retry scheduled before the epoch");
    }
    // An outdated stage is explained by a change that made it so.
    if (st.stored == run_status::outdated) {
      const stage_index c = st.cause;
      switch (st.reason) {
        case outdated_reason::context:
          if (c == no_stage || !sp.is_upstream(c, i)) fail(i, "outdated by a context change that is not upstream");
          else if (s.payload(c).context == nullptr) fail(i, "outdated by " + name(c) + ", which has no context");
          break;
        case outdated_reason::rejected:
          if (c != i || !sp[i].confirm) fail(i, "outdated by a rejection it never asked for");
          break;
        case outdated_reason::rerun: {
          const bool loop = c != no_stage && sp[c].on_failure &&
                            (sp[c].on_failure->rerun == i || sp.is_upstream(sp[c].on_failure->rerun, i));
          if (!loop) fail(i, "outdated by a re-run whose loop does not contain it");
          break;
        }
        case outdated_reason::none: fail(i, "outdated without a reason"); break;
      }
    } else if (st.reason != outdated_reason::none || st.cause != no_stage) {
      fail(i, "keeps an outdated cause while " + std::string(to_string(s.status(i))));
    }
  }
  if (pending) {
    const stage_index c = pending->stage;
    if (c >= s.size()) {
      out.push_back("the pending confirmation names no stage");
    } else {
      const stage_state& st = s.stage(c);
      const bool asks = st.stored == run_status::completed && sp[c].confirm && !st.confirmed;
      const bool retry = st.stored == run_status::failed && sp[c].on_failure &&
                         st.reruns >= sp[c].on_failure->max_attempts && !st.given_up;
      if (!asks && !retry) fail(c, "has a pending confirmation it has no reason to ask");
      if (pending->requested_seq > s.seq()) out.push_back("the pending confirmation is from the future");
      if (pending->message.empty()) out.push_back("the pending confirmation has no message");
    }
  }
  return out;
}

}  // namespace dairector
