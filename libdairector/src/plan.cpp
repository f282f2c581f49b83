#include "dairector/plan.hpp"

#include "dairector/reducer.hpp"
#include "dairector/retry.hpp"

namespace dairector {

const char* to_string(pipeline_outcome o) {
  switch (o) {
    case pipeline_outcome::active: return "active";
    case pipeline_outcome::waiting: return "waiting";
    case pipeline_outcome::done: return "done";
    case pipeline_outcome::failed: return "failed";
    case pipeline_outcome::cancelled: return "cancelled";
  }
  return "?";
}

std::optional<event> next_system_event(const system_state& s) {
  if (s.empty() || s.pending()) return std::nullopt;
  const pipeline_spec& sp = s.spec();
  for (stage_index i = 0; i < s.size(); ++i) {
    const stage_state& st = s.stage(i);
    if (st.stored == run_status::completed && sp[i].confirm && !st.confirmed) {
      event e;
      e.type = event_type::confirmation_requested;
      e.stage = i;
      e.text = *sp[i].confirm;
      return e;
    }
    if (st.stored == run_status::failed && sp[i].retry && st.tries < sp[i].retry->max_attempts) {
      // run.retry first: the stage itself again, after its backoff. Once
      // scheduled nothing more is owed for it; the driver starts it when due.
      if (s.retry_at(i) != 0) continue;
      event e;
      e.type = event_type::retry_scheduled;
      e.stage = i;
      e.run = st.run;
      e.delay_ms = retry_delay_ms(*sp[i].retry, s.seed(), i, st.tries);
      return e;
    }
    if (st.stored == run_status::failed && sp[i].on_failure && !st.given_up) {
      const on_failure_spec& policy = *sp[i].on_failure;
      event e;
      e.stage = i;
      if (st.reruns < policy.max_attempts) {
        e.type = event_type::rerun_requested;
        e.rerun = policy.rerun;
      } else {
        e.type = event_type::confirmation_requested;
        e.text = "stage '" + sp[i].name + "' failed " + std::to_string(st.reruns + 1) + " times (" +
                 std::to_string(st.reruns) + " re-runs from '" + sp[policy.rerun].name +
                 "'): approve to try again, reject to give up";
      }
      return e;
    }
  }
  return std::nullopt;
}

// A failed stage whose scheduled retry is not moot (every upstream still done).
bool retry_waits(const system_state& s, stage_index i) {
  return s.retry_at(i) != 0 && s.stage(i).attempt < stage_attempts_max && s.upstream_done(i);
}

std::vector<stage_index> startable(const system_state& s, std::int64_t now_ms) {
  std::vector<stage_index> out;
  if (s.empty() || s.pending()) return out;
  for (stage_index i = 0; i < s.size(); ++i) {
    const stage_state& st = s.stage(i);
    if (st.stored == run_status::failed) {
      if (retry_waits(s, i) && s.retry_at(i) <= now_ms) out.push_back(i);
      continue;
    }
    if (st.stored != run_status::idle && st.stored != run_status::outdated) continue;
    if (st.attempt >= stage_attempts_max || !s.upstream_done(i)) continue;
    out.push_back(i);
  }
  return out;
}

std::optional<std::int64_t> next_retry_at(const system_state& s) {
  std::optional<std::int64_t> out;
  if (s.empty()) return out;
  for (stage_index i = 0; i < s.size(); ++i)
    if (retry_waits(s, i) && (!out || s.retry_at(i) < *out)) out = s.retry_at(i);
  return out;
}

pipeline_outcome outcome(const system_state& s) {
  if (s.empty()) return pipeline_outcome::active;
  bool running = false, cancelled = false, all_done = true;
  for (stage_index i = 0; i < s.size(); ++i) {
    const stage_state& st = s.stage(i);
    running = running || st.stored == run_status::running;
    cancelled = cancelled || st.stored == run_status::cancelled;
    all_done = all_done && st.stored == run_status::completed && (!s.spec()[i].confirm || st.confirmed);
  }
  if (running) return pipeline_outcome::active;
  if (s.pending()) return pipeline_outcome::waiting;
  if (all_done) return pipeline_outcome::done;
  if (next_system_event(s) || !startable(s).empty() || next_retry_at(s)) return pipeline_outcome::active;
  return cancelled ? pipeline_outcome::cancelled : pipeline_outcome::failed;
}

json handler_input(const system_state& s, stage_index stage) {
  // Built field by field: nlohmann's initializer lists copy every value twice,
  // and this runs once per run.
  const stage_state& st = s.stage(stage);
  const stage_payload& p = s.payload(stage);
  json out(json::value_t::object);
  out["pipeline"] = s.pipeline();
  out["stage"] = s.spec()[stage].name;
  out["run"] = st.run;
  out["attempt"] = st.attempt;
  out["context"] = p.context ? *p.context : json(json::value_t::object);
  // The pipeline's input given at creation, the same for every stage (null
  // when none was given); not `inputs`, the upstream outputs by stage name.
  out["input"] = s.input() ? *s.input() : json(nullptr);
  json& inputs = out["inputs"] = json(json::value_t::object);
  for (stage_index up : s.spec()[stage].after) {
    const auto& upstream = s.payload(up).output;
    inputs[s.spec()[up].name] = upstream ? *upstream : json(nullptr);
  }
  return out;
}

}  // namespace dairector
