#include "dairector/actors/registry.hpp"

#include <algorithm>
#include <chrono>

#include "dairector/text_check.hpp"

namespace dairector::actors {

namespace {

void log(registry_actor* self, const std::string& line) {
  if (self->state.cfg.log) self->state.cfg.log(line);
}

bool serves(const registered_worker& w, const std::string& stage) {
  return std::find(w.stages.begin(), w.stages.end(), stage) != w.stages.end();
}

bool remote_only(registry_actor* self, const std::string& stage) {
  const auto& r = self->state.cfg.remote_only;
  return r.count("*") > 0 || r.count(stage) > 0;
}

// The least busy worker of the stage with a free slot; among equals, the one
// assigned longest ago (round robin). Null if every one is full.
registered_worker* pick(registry_actor* self, const std::string& stage) {
  registered_worker* best = nullptr;
  for (auto& w : self->state.workers) {
    if (!serves(w, stage) || w.busy >= w.capacity) continue;
    if (!best || w.busy < best->busy || (w.busy == best->busy && w.last_assigned < best->last_assigned)) best = &w;
  }
  return best;
}

bool anyone_serves(registry_actor* self, const std::string& stage) {
  auto& ws = self->state.workers;
  return std::any_of(ws.begin(), ws.end(), [&](const registered_worker& w) { return serves(w, stage); });
}

caf::actor take(registry_actor* self, registered_worker& w, const caf::actor_addr& holder) {
  ++w.busy;
  ++self->state.held[{holder, w.endpoint.address()}];
  w.last_assigned = ++self->state.assignments;
  return w.endpoint;
}

caf::actor_addr holder_of(const caf::response_promise& rp) {
  return rp.source() ? rp.source()->address() : caf::actor_addr{};
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Why a run waits (stage_wait::reason).
std::string reason(registry_actor* self, const std::string& stage) {
  return anyone_serves(self, stage) ? "every connected worker serving stage '" + stage + "' is busy"
                                    : "no connected worker serves stage '" + stage + "'";
}

std::string named(const waiting_assign& a) {
  return "pipeline '" + a.pipeline + "' run " + std::to_string(a.run) + " of stage '" + a.stage + "'";
}

// The second line of a wait that was logged: how it ended.
void log_end(registry_actor* self, const waiting_assign& a, const std::string& how) {
  if (a.logged)
    log(self, named(a) + " " + how + " after waiting " + std::to_string(std::max<std::int64_t>(0, now_ms() - a.since_ms)) +
                  " ms");
}

// Answers the waiting requests that can be answered now, oldest first: a
// free worker, or "run it here" once no worker serves a stage that may run here.
void serve_waiting(registry_actor* self) {
  auto& q = self->state.waiting;
  for (auto it = q.begin(); it != q.end();) {
    if (auto* w = pick(self, it->stage)) {
      log_end(self, *it, "taken by worker '" + w->name + "'");
      it->answer.deliver(take(self, *w, holder_of(it->answer)));
    } else if (!anyone_serves(self, it->stage) && !remote_only(self, it->stage)) {
      log_end(self, *it, "runs in the server");
      it->answer.deliver(caf::actor{});
    } else {
      ++it;
      continue;
    }
    it = q.erase(it);
  }
}

void forget(registry_actor* self, const caf::actor_addr& gone, const std::string& why) {
  auto& ws = self->state.workers;
  auto it = std::find_if(ws.begin(), ws.end(), [&](const registered_worker& w) { return w.endpoint.address() == gone; });
  if (it == ws.end()) return;
  log(self, "worker '" + it->name + "' is gone (" + why + "); " + std::to_string(it->busy) +
                " of its runs are interrupted and dispatched again");
  if (it->registrar) self->send(it->registrar, worker_forgotten{gone});
  ws.erase(it);
  // Its slots die with it: a late unassign for it frees nothing (it may be
  // registered again by then, with slots held by other runs).
  for (auto h = self->state.held.begin(); h != self->state.held.end();) h = h->first.second == gone ? self->state.held.erase(h) : std::next(h);
  self->state.returned.erase(gone);
  if (std::find(self->state.gone.begin(), self->state.gone.end(), gone) == self->state.gone.end()) {
    self->state.gone.push_back(gone);
    if (self->state.gone.size() > registry_workers_max) self->state.gone.pop_front();
  }
  serve_waiting(self);
}

// A supervisor (or whoever asked) went away: the slots it held are free and
// its waiting requests are dropped (a slot delivered to it would never return).
void holder_gone(registry_actor* self, const caf::actor_addr& holder) {
  for (auto h = self->state.held.begin(); h != self->state.held.end();) {
    if (h->first.first != holder) {
      ++h;
      continue;
    }
    for (auto& w : self->state.workers)
      if (w.endpoint.address() == h->first.second) w.busy -= std::min(w.busy, h->second);
    h = self->state.held.erase(h);
  }
  auto& q = self->state.waiting;
  q.erase(std::remove_if(q.begin(), q.end(), [&](const auto& x) { return holder_of(x.answer) == holder; }), q.end());
  serve_waiting(self);
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

reply refuse(registry_actor* self, const std::string& name, const caf::actor& endpoint, const std::string& why) {
  return refuse_registration(self->state.cfg.log, name, endpoint, why);
}

// A registration the gate let through (it checked the token). It hands out
// nothing: the caller answers the gate first, then serves the waiting runs.
reply enroll(registry_actor* self, const registration& reg) {
  auto& st = self->state;
  const std::string& name = reg.name;
  const caf::actor& endpoint = reg.endpoint;
  if (!endpoint) return refuse(self, name, endpoint, "no endpoint actor");
  // The name becomes the `by` of its events and is logged: plain text only.
  if (name.size() > by_bytes_max)
    return refuse(self, name, endpoint, "the name is longer than " + std::to_string(by_bytes_max) + " bytes");
  if (auto why = control_refusal(name)) return refuse(self, name, endpoint, "the name " + *why);
  if (reg.stages.empty() || reg.stages.size() > registry_stages_max)
    return refuse(self, name, endpoint, "a worker serves 1 to " + std::to_string(registry_stages_max) + " stages");
  if (reg.capacity == 0 || reg.capacity > worker_capacity_max)
    return refuse(self, name, endpoint, "capacity must be 1 to " + std::to_string(worker_capacity_max));
  auto it = std::find_if(st.workers.begin(), st.workers.end(),
                         [&](const registered_worker& w) { return w.endpoint == endpoint; });
  if (it == st.workers.end()) {
    if (st.workers.size() >= registry_workers_max)
      return refuse(self, name, endpoint, "this server has " + std::to_string(st.workers.size()) + " workers, the limit");
    self->monitor(endpoint);
    it = st.workers.insert(st.workers.end(), registered_worker{endpoint, {}, name, {}, 1, 0, 0});
    if (auto g = std::find(st.gone.begin(), st.gone.end(), endpoint.address()); g != st.gone.end()) {
      st.gone.erase(g);
      st.returned.insert(endpoint.address());
    }
  }
  it->registrar = caf::actor_cast<caf::actor>(self->current_sender());
  it->name = name;
  it->stages = reg.stages;
  it->capacity = reg.capacity;
  log(self, "worker '" + name + "' registered from node " + caf::to_string(endpoint.node()) + ": stages " +
                joined(reg.stages) + ", capacity " + std::to_string(reg.capacity));
  return reply{reply::ok, {}, 0};
}

}  // namespace

reply refuse_registration(const std::function<void(const std::string&)>& log, const std::string& name,
                          const caf::actor& endpoint, const std::string& why) {
  if (log) log("refused worker '" + name + "' from node " + (endpoint ? caf::to_string(endpoint.node()) : "?") + ": " + why);
  return reply{reply::refused, "registration refused: " + why, 0};
}

caf::behavior registry(registry_actor* self, registry_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([=](caf::down_msg& dm) {
    if (self->state.holders.erase(dm.source) > 0) holder_gone(self, dm.source);
    else forget(self, dm.source, caf::to_string(dm.reason));
  });
  self->set_default_handler([](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
    return caf::make_error(caf::sec::unexpected_message);
  });
  return {
      [=](registration& reg) {
        // The registrar (the gate) hears of the worker before any waiting run
        // is handed it: a supervisor given the worker sends its job through
        // the gate at once, and a gate that did not yet hold the worker's
        // secret would answer "undeliverable", which forgets a worker that is
        // connected and registered (it would then idle forever). Sent first,
        // the answer is in the gate's mailbox before the job can be.
        auto answer = enroll(self, reg);
        const bool ok = answer.is_ok();
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), registration_answer{reg.id, std::move(answer)});
        if (ok) serve_waiting(self);
      },
      [=](assign_request& req) -> caf::result<caf::actor> {
        // The asker holds the slot until it unassigns or goes away.
        const auto holder = self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
        if (!holder) return caf::make_error(caf::sec::invalid_argument, "an assign needs a sender to hold the slot");
        if (self->state.holders.insert(holder).second) self->monitor(caf::actor_cast<caf::actor>(self->current_sender()));
        if (auto* w = pick(self, req.stage)) return take(self, *w, holder);
        if (!anyone_serves(self, req.stage) && !remote_only(self, req.stage)) return caf::actor{};
        waiting_assign a{req.stage, self->make_response_promise(), req.pipeline, req.run, now_ms(), false};
        // A wait nobody connected can end is said once, not at each retry
        // (there are none: the request waits here until it can be answered).
        if (!anyone_serves(self, req.stage)) {
          a.logged = true;
          log(self, named(a) + " waits for a worker: " + reason(self, req.stage));
        }
        self->state.waiting.push_back(std::move(a));
        return caf::delegated<caf::actor>{};
      },
      [=](withdraw_request& req) {
        // Only the sender's own run: the ids are per pipeline.
        const auto holder = self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
        auto& q = self->state.waiting;
        auto it = std::find_if(q.begin(), q.end(),
                               [&](const waiting_assign& a) { return a.run == req.run && holder_of(a.answer) == holder; });
        if (it == q.end()) return;
        log_end(self, *it, "stopped waiting (cancelled or outdated)");
        it->answer.deliver(caf::actor{});
        q.erase(it);
      },
      [=](waits_request& req) -> std::vector<stage_wait> {
        std::vector<stage_wait> out;
        for (const auto& a : self->state.waiting)
          if (a.pipeline == req.pipeline) out.push_back(stage_wait{a.stage, a.run, reason(self, a.stage), a.since_ms});
        return out;
      },
      [=](unassign_request& req) {
        // Only a slot the sender holds: a stale or foreign unassign frees nothing.
        const auto holder = self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
        auto h = self->state.held.find({holder, req.worker.address()});
        if (h == self->state.held.end()) return;
        if (--h->second == 0) self->state.held.erase(h);
        for (auto& w : self->state.workers)
          if (w.endpoint == req.worker && w.busy > 0) --w.busy;
        serve_waiting(self);
      },
      [=](lost_report& lost) {
        // About a connection the registry already saw break, if the worker
        // registered again since: the registry's own monitor speaks for the new one.
        if (self->state.returned.count(lost.gone) > 0) return;
        forget(self, lost.gone, "its connection broke");
      },
      [=](workers_count_request) -> std::uint64_t { return self->state.workers.size(); },
  };
}

}  // namespace dairector::actors
