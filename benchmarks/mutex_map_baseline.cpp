#include "mutex_map_baseline.hpp"

#include "dairector/reducer.hpp"

namespace dairector::bench {

bool mutex_map_pipeline::apply(const event& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (e.type == event_type::pipeline_created) return created(e);
  if (!spec_ || e.pipeline != pipeline_ || e.seq != seq_ + 1) return false;
  if (e.stage >= spec_->size()) return false;
  bool ok = false;
  switch (e.type) {
    case event_type::stage_started: ok = started(e); break;
    case event_type::stage_completed: ok = completed(e); break;
    case event_type::context_changed: ok = context_changed(e); break;
    default: return false;
  }
  if (ok) seq_ = e.seq;
  return ok;
}

std::uint64_t mutex_map_pipeline::seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}

run_status mutex_map_pipeline::status_of(const std::string& stage) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stages_.find(stage);
  return it == stages_.end() ? run_status::idle : it->second.status;
}

// A new pipeline replaces the old one: the map is refilled, one node per stage.
bool mutex_map_pipeline::created(const event& e) {
  if (!e.spec || e.pipeline.empty() || e.seq != 1) return false;
  spec_ = e.spec;
  pipeline_ = e.pipeline;
  seq_ = e.seq;
  stages_.clear();
  for (const stage_spec& s : spec_->stages()) stages_.emplace(s.name, stage_record{});
  return true;
}

bool mutex_map_pipeline::started(const event& e) {
  const stage_spec& sp = (*spec_)[e.stage];
  auto it = stages_.find(sp.name);
  if (it == stages_.end()) return false;
  stage_record& r = it->second;
  if (r.status == run_status::running || r.status == run_status::completed) return false;
  for (stage_index up : sp.after) {
    auto u = stages_.find((*spec_)[up].name);
    if (u == stages_.end() || u->second.status != run_status::completed) return false;
  }
  if (e.run != e.seq || r.attempt >= stage_attempts_max) return false;
  r.status = run_status::running;
  r.run = e.run;
  r.since = e.seq;
  r.attempt += 1;
  return true;
}

bool mutex_map_pipeline::completed(const event& e) {
  auto it = stages_.find((*spec_)[e.stage].name);
  if (it == stages_.end()) return false;
  stage_record& r = it->second;
  if (r.status != run_status::running || r.run != e.run || !e.payload) return false;
  r.status = run_status::completed;
  r.since = e.seq;
  r.output = e.payload;
  r.error.clear();
  return true;
}

// Rule 7 as the first design did it: walk the downstream names, mark in place.
bool mutex_map_pipeline::context_changed(const event& e) {
  if (!e.payload) return false;
  const stage_spec& sp = (*spec_)[e.stage];
  auto it = stages_.find(sp.name);
  if (it == stages_.end()) return false;
  it->second.context = e.payload;
  for (stage_index d : sp.downstream) {
    stage_record& r = stages_.find((*spec_)[d].name)->second;
    if (r.status == run_status::running || r.status == run_status::completed || r.status == run_status::failed) {
      r.status = run_status::outdated;
      r.since = e.seq;
    }
  }
  return true;
}

}  // namespace dairector::bench
