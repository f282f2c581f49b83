#include "dairector/actors/supervisor.hpp"

#include <chrono>
#include <deque>

#include "dairector/actors/journal.hpp"
#include "dairector/actors/process.hpp"
#include "dairector/plan.hpp"
#include "dairector/reducer.hpp"

namespace dairector::actors {

namespace {

using acquire_atom = caf::atom_constant<caf::atom("dacquire")>;
using release_atom = caf::atom_constant<caf::atom("drelease")>;

reply ok_reply(const supervisor_actor* self) { return reply{reply::ok, {}, self->state.state.seq()}; }

reply refusal(const supervisor_actor* self, const error& err) {
  reply::code_t code = reply::invalid;
  switch (err.code) {
    case errc::blocked: code = reply::blocked; break;
    case errc::refused: code = reply::refused; break;
    case errc::not_found: code = reply::not_found; break;
    case errc::journal: code = reply::unavailable; break;
    default: break;
  }
  return reply{code, err.message, self->state.state.seq()};
}

std::int64_t now_ms(const supervisor_config& cfg) {
  if (cfg.clock_ms) return cfg.clock_ms();
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

event make_event(supervisor_actor* self, event_type type, std::string by) {
  event e;
  e.type = type;
  e.seq = self->state.state.seq() + 1;
  e.at_ms = now_ms(self->state.cfg);
  e.by = std::move(by);
  e.pipeline = self->state.cfg.pipeline;
  return e;
}

// Kills a run's work: its command's process group here, or on its worker process.
void stop_run(supervisor_actor* self, std::uint64_t run, live_run& r) {
  r.killed = true;
  if (r.remote) self->send(r.worker, kill_atom::value, self->state.cfg.pipeline, run);
  else kill_process_group(r.pgid);
}

// Kills what is left of runs that are no longer live (cancelled, outdated,
// rolled back): rule 3 fences their results; this stops their work.
void stop_fenced_runs(supervisor_actor* self) {
  auto& st = self->state;
  for (auto& [run, r] : st.runs) {
    if (r.killed || st.state.is_live_run(r.stage, run)) continue;
    stop_run(self, run, r);
  }
}

// After a state change: tell the watchers, stop fenced work.
void changed(supervisor_actor* self, const event& e) {
  auto& st = self->state;
  for (const auto& w : st.watchers) self->send(w, state_update{e, st.state});
  stop_fenced_runs(self);
}

// Applies a checked completion once it is durable. Nothing ran in between
// (the supervisor awaited the journal), so it cannot be refused now.
void install(supervisor_actor* self, const event& e) {
  if (auto err = apply_in_place(self->state.state, e)) {
    self->state.journal_error = "a durable event was refused after its check: " + err->message;
    return;
  }
  changed(self, e);
}

// Memory first, then the journal without waiting (rule 4): starts, cancels,
// context changes and the supervisor's own decisions. Applied in place: no
// copy unless a watcher still holds parts of the state.
// The journal hears of an event before any watcher does, so whoever saw it
// can rely on it being queued for disk.
std::optional<error> record(supervisor_actor* self, const event& e) {
  if (auto err = apply_in_place(self->state.state, e)) return err;
  if (self->state.cfg.journal) self->send(self->state.cfg.journal, append_atom::value, e);
  changed(self, e);
  return std::nullopt;
}

void release_slot(supervisor_actor* self, live_run& r) {
  if (r.holds_slot && self->state.cfg.gate) self->send(self->state.cfg.gate, release_atom::value);
  r.holds_slot = false;
}

void send_job(supervisor_actor* self, std::uint64_t run, job j) {
  auto& st = self->state;
  const run_spec& rs = st.cfg.spec->stages()[j.stage_index].run;
  caf::actor worker = worker_for(self, *st.cfg.workers, st.shared_workers, rs);
  st.runs[run].worker = worker;
  self->send(worker, std::move(j));
}

// A run on this process's workers, after a slot of the command limit.
void dispatch_local(supervisor_actor* self, stage_index i, std::uint64_t run, job j) {
  auto& st = self->state;
  if (st.cfg.spec->stages()[i].run.what != run_spec::kind::command || !st.cfg.gate) {
    send_job(self, run, std::move(j));
    return;
  }
  // A command waits for a slot under the global limit; it may be fenced meanwhile.
  self->request(st.cfg.gate, caf::infinite, acquire_atom::value)
      .then(
          [=](caf::ok_atom) mutable {
            auto& s = self->state;
            auto it = s.runs.find(run);
            if (it == s.runs.end() || !s.state.is_live_run(i, run)) {
              self->send(s.cfg.gate, release_atom::value);
              if (it != s.runs.end() && !it->second.worker) s.runs.erase(it);
              return;
            }
            it->second.holds_slot = true;
            send_job(self, run, std::move(j));
          },
          [=](caf::error&) {
            // No gate: run without a slot rather than never.
            auto& s = self->state;
            if (s.state.is_live_run(i, run)) send_job(self, run, j);
          });
}

// The stage's run object as JSON text: what a worker process parses.
const std::string& run_text(supervisor_actor* self, stage_index i) {
  auto& st = self->state;
  if (st.run_texts.empty()) {
    const json doc = st.cfg.spec->to_json();
    st.run_texts.resize(st.cfg.spec->size());
    for (const auto& stage : doc["stages"]) {
      stage_index k = st.cfg.spec->find(stage["name"].get<std::string>());
      if (k != no_stage) st.run_texts[k] = stage["run"].dump();
    }
  }
  return st.run_texts[i];
}

// A run on a worker process: the job's values go as text.
void send_remote(supervisor_actor* self, stage_index i, std::uint64_t run, const caf::actor& worker, job j) {
  auto& st = self->state;
  live_run& r = st.runs[run];
  r.worker = worker;
  r.remote = true;
  const auto addr = worker.address();
  if (std::find(st.remote_workers.begin(), st.remote_workers.end(), addr) == st.remote_workers.end()) {
    st.remote_workers.push_back(addr);
    self->monitor(worker);  // a dead or hung worker process: its runs are interrupted
  }
  j.run_spec = run_text(self, i);
  j.input = j.input_value->dump();
  j.input_value.reset();
  j.spec_value.reset();
  self->send(worker, std::move(j));
}

void dispatch(supervisor_actor* self, stage_index i) {
  auto& st = self->state;
  const pipeline_spec& spec = *st.cfg.spec;
  const std::uint64_t run = st.state.stage(i).run;
  job j;
  j.pipeline = st.cfg.pipeline;
  j.stage = spec[i].name;
  j.stage_index = i;
  j.run = run;
  j.attempt = st.state.stage(i).attempt;
  j.workdir = st.cfg.workdir;
  j.input_value = std::make_shared<const json>(handler_input(st.state, i));
  j.spec_value = st.cfg.spec;
  st.runs[run].stage = i;
  if (!st.cfg.registry) {
    dispatch_local(self, i, run, std::move(j));
    return;
  }
  // The registry names a worker process with a free slot, or none (run here).
  self->request(st.cfg.registry, caf::infinite, assign_atom::value, spec[i].name)
      .then(
          [=](caf::actor& worker) mutable {
            auto& s = self->state;
            auto it = s.runs.find(run);
            if (it == s.runs.end() || !s.state.is_live_run(i, run)) {  // fenced while waiting
              if (worker) self->send(s.cfg.registry, unassign_atom::value, worker);
              if (it != s.runs.end() && !it->second.worker) s.runs.erase(it);
              return;
            }
            if (worker) send_remote(self, i, run, worker, std::move(j));
            else dispatch_local(self, i, run, std::move(j));
          },
          [=](caf::error&) mutable {
            // No registry any more: run here rather than never.
            if (self->state.state.is_live_run(i, run)) dispatch_local(self, i, run, std::move(j));
          });
}

std::optional<error> start_stage(supervisor_actor* self, stage_index i, const std::string& by) {
  event e = make_event(self, event_type::stage_started, by);
  e.stage = i;
  e.run = e.seq;  // a fresh run id: the seq of its start (rule 3)
  if (auto err = record(self, e)) return err;
  dispatch(self, i);
  return std::nullopt;
}

// The driver: settle what the pipeline owes, then start everything startable
// (parallel branches in parallel). The lock is the core's: nothing is
// startable while a confirmation is pending.
void drive(supervisor_actor* self) {
  auto& st = self->state;
  if (!st.journal_error.empty()) return;
  for (int guard = 0; guard < 1000; ++guard) {
    auto owed = next_system_event(st.state);
    if (!owed) break;
    event e = make_event(self, owed->type, st.cfg.by);
    e.stage = owed->stage;
    e.text = owed->text;
    e.rerun = owed->rerun;
    if (record(self, e)) break;  // cannot happen: the plan proposes legal events
  }
  if (!st.cfg.drive) return;  // owed decisions are settled; starts are left to requests
  for (stage_index i : startable(st.state)) start_stage(self, i, st.cfg.by);
}

// The journal lost a write: nothing unacknowledged was applied, but memory
// may be ahead of disk, so no more starts; watchers are told.
void journal_failed(supervisor_actor* self, const std::string& why) {
  auto& st = self->state;
  if (!st.journal_error.empty()) return;
  st.journal_error = "journal failed: " + why;
  for (const auto& w : st.watchers) self->send(w, journal_failed_atom::value, st.journal_error);
}

// A worker's result. Fenced results are recorded as discarded; a live one is
// made durable first and applied only then (rule 5).
void on_result(supervisor_actor* self, stage_result& r) {
  auto& st = self->state;
  if (auto it = st.runs.find(r.run); it != st.runs.end()) {
    if (it->second.remote) {
      // Only the worker process that has the run may answer for it.
      if (caf::actor_cast<caf::actor>(self->current_sender()) != it->second.worker) return;
      self->send(st.cfg.registry, unassign_atom::value, it->second.worker);
    }
    release_slot(self, it->second);
    st.runs.erase(it);
  }
  if (r.stage_index >= st.state.size() || !st.state.is_live_run(r.stage_index, r.run)) {
    if (r.stage_index >= st.state.size() || r.run == 0 || r.run > st.state.seq()) return;  // never started here
    event e = make_event(self, event_type::result_discarded, r.worker);
    e.stage = r.stage_index;
    e.run = r.run;
    e.text = r.ok ? "completed" : "failed";
    record(self, e);
    return;
  }
  std::shared_ptr<const json> output = r.output_value;
  if (r.ok && !output) {
    json parsed = json::parse(r.output, nullptr, false);
    if (parsed.is_discarded()) {
      r.ok = false;
      r.error = "the worker's output is not JSON";
    } else {
      output = std::make_shared<const json>(std::move(parsed));
    }
  }
  event e = make_event(self, r.ok ? event_type::stage_completed : event_type::stage_failed, r.worker);
  e.stage = r.stage_index;
  e.run = r.run;
  e.payload = std::move(output);
  e.text = r.error;
  // Checked before it is written, applied only once durable (rule 5).
  if (check(st.state, e)) return;
  if (!st.cfg.journal) {
    install(self, e);
    drive(self);
    return;
  }
  self->request(st.cfg.journal, caf::infinite, persist_atom::value, e)
      .await(
          [=](std::uint64_t) {
            install(self, e);
            drive(self);
          },
          [=](caf::error& err) {
            // Not durable, so never applied: the run stays running, and no
            // new start is made until the journal works again.
            journal_failed(self, describe(err));
          });
}

void on_down(supervisor_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  forget_actor(st.watchers, dm.source);
  forget_worker(st.shared_workers, dm.source);
  // A worker process: the registry hears it from us before we ask it again.
  if (auto rw = std::find(st.remote_workers.begin(), st.remote_workers.end(), dm.source);
      rw != st.remote_workers.end()) {
    st.remote_workers.erase(rw);
    if (st.cfg.registry) self->send(st.cfg.registry, lost_atom::value, dm.source);
  }
  // A worker that died took its runs with it: interrupted, startable again.
  std::vector<std::pair<std::uint64_t, stage_index>> lost;
  for (auto it = st.runs.begin(); it != st.runs.end();) {
    if (it->second.worker && it->second.worker.address() == dm.source) {
      release_slot(self, it->second);
      lost.emplace_back(it->first, it->second.stage);
      it = st.runs.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(lost.begin(), lost.end());
  for (auto [run, stage] : lost) {
    if (!st.state.is_live_run(stage, run)) continue;
    event e = make_event(self, event_type::stage_interrupted, "system");
    e.stage = stage;
    e.run = run;
    record(self, e);
  }
  if (!lost.empty()) drive(self);
}

// Rule 8: carry on from the journal. A run the journal shows running has no
// worker any more (the process that ran it is gone): it is interrupted, and
// the driver starts it again with a fresh run id.
void recover(supervisor_actor* self) {
  auto& st = self->state;
  st.state = std::move(*st.cfg.recovered);
  st.cfg.recovered.reset();
  st.cfg.spec = st.state.spec_ptr();  // the journal's spec is the pipeline's
  st.cfg.pipeline = st.state.pipeline();
  for (stage_index i = 0; i < st.state.size(); ++i) {
    if (st.state.stage(i).stored != run_status::running) continue;
    event e = make_event(self, event_type::stage_interrupted, "system");
    e.stage = i;
    e.run = st.state.stage(i).run;
    record(self, e);
  }
}

void stop_all(supervisor_actor* self) {
  for (auto& [run, r] : self->state.runs) stop_run(self, run, r);
}

stage_index find_stage(supervisor_actor* self, const std::string& name) {
  return self->state.cfg.spec->find(name);
}

reply unknown_stage(supervisor_actor* self, const std::string& name) {
  return reply{reply::not_found, "pipeline '" + self->state.cfg.pipeline + "' has no stage '" + name + "'",
               self->state.state.seq()};
}

}  // namespace

caf::behavior supervisor(supervisor_actor* self, supervisor_config cfg) {
  if (!cfg.workers) cfg.workers = std::make_shared<local_workers>();
  self->state.cfg = std::move(cfg);
  for (const auto& w : self->state.cfg.watchers) {
    self->state.watchers.push_back(w);
    self->monitor(w);
  }
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  // An exit request (from whoever links to or stops it) kills the running
  // commands' process groups before the supervisor goes.
  self->set_exit_handler([=](caf::exit_msg& em) {
    stop_all(self);
    self->quit(em.reason);
  });
  self->set_default_handler([](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
    return caf::make_error(caf::sec::unexpected_message);
  });
  if (self->state.cfg.recovered) {
    recover(self);
  } else {
    event created = make_event(self, event_type::pipeline_created, self->state.cfg.by);
    created.spec = self->state.cfg.spec;
    record(self, created);
  }
  drive(self);
  return {
      [=](start_atom, const std::string& stage, const std::string& by) -> reply {
        stage_index i = find_stage(self, stage);
        if (i == no_stage) return unknown_stage(self, stage);
        if (!self->state.journal_error.empty())
          return reply{reply::unavailable, self->state.journal_error, self->state.state.seq()};
        if (auto err = start_stage(self, i, by)) return refusal(self, *err);
        return ok_reply(self);
      },
      [=](stage_result& r) { on_result(self, r); },
      [=](pgid_atom, std::uint64_t run, std::int32_t pgid) {
        auto& st = self->state;
        auto it = st.runs.find(run);
        if (it == st.runs.end()) return;  // result already in: the group was reaped
        it->second.pgid = pgid;
        if (it->second.killed || !st.state.is_live_run(it->second.stage, run)) {
          it->second.killed = true;
          kill_process_group(pgid);  // fenced before its process was known
        }
      },
      [=](cancel_atom, const std::string& stage, const std::string& by) -> reply {
        event e = make_event(self, event_type::stage_cancelled, by);
        if (!stage.empty()) {
          e.stage = find_stage(self, stage);
          if (e.stage == no_stage) return unknown_stage(self, stage);
          e.run = self->state.state.stage(e.stage).run;
        }
        if (auto err = record(self, e)) return refusal(self, *err);
        drive(self);
        return ok_reply(self);
      },
      [=](context_atom, const std::string& stage, const std::string& context, const std::string& by) -> reply {
        event e = make_event(self, event_type::context_changed, by);
        e.stage = find_stage(self, stage);
        if (e.stage == no_stage) return unknown_stage(self, stage);
        json value = json::parse(context, nullptr, false);
        if (value.is_discarded())
          return reply{reply::invalid, "the context is not valid JSON", self->state.state.seq()};
        e.payload = std::make_shared<const json>(std::move(value));
        if (auto err = record(self, e)) return refusal(self, *err);
        drive(self);
        return ok_reply(self);
      },
      [=](resolve_atom, bool approved, const std::string& note, const std::string& by) -> reply {
        const confirmation* c = self->state.state.pending();
        if (!c) return reply{reply::refused, "no confirmation is pending", self->state.state.seq()};
        event e = make_event(self, event_type::confirmation_resolved, by);
        e.stage = c->stage;
        e.approved = approved;
        e.text = note;
        if (auto err = record(self, e)) return refusal(self, *err);
        drive(self);
        return ok_reply(self);
      },
      [=](rollback_atom, std::uint64_t to, const std::string& by) -> caf::result<reply> {
        auto& st = self->state;
        if (!st.cfg.journal)
          return reply{reply::unavailable, "rollback needs a journal (this pipeline is in memory only)",
                       st.state.seq()};
        auto rp = self->make_response_promise<reply>();
        self->request(st.cfg.journal, caf::infinite, history_atom::value, st.cfg.pipeline)
            .await(
                [=](std::vector<event>& history) mutable {
                  auto target = state_at(history, to);
                  if (!target) {
                    rp.deliver(refusal(self, target.err()));
                    return;
                  }
                  event e = make_event(self, event_type::rolled_back, by);
                  e.to = to;
                  e.target = std::make_shared<const system_state>(std::move(*target));
                  if (auto err = record(self, e)) {
                    rp.deliver(refusal(self, *err));
                    return;
                  }
                  drive(self);
                  rp.deliver(ok_reply(self));
                },
                [=](caf::error& err) mutable {
                  rp.deliver(reply{reply::unavailable, "journal: " + describe(err), self->state.state.seq()});
                });
        return rp;
      },
      [=](journal_failed_atom, const std::string& why) { journal_failed(self, why); },
      [=](state_atom) { return self->state.state; },
      [=](watch_atom, const caf::actor& watcher) {
        self->state.watchers.push_back(watcher);
        self->monitor(watcher);
        return self->state.state;
      },
      [=](stop_atom) {
        stop_all(self);
        self->quit();
      },
  };
}

const supervisor_state& inspect_supervisor(const caf::actor& a) {
  return dynamic_cast<supervisor_actor&>(*caf::actor_cast<caf::abstract_actor*>(a)).state;
}

caf::behavior command_gate(caf::event_based_actor* self, std::size_t limit) {
  struct gate_state {
    std::size_t used = 0;
    std::deque<caf::response_promise> waiting;
  };
  auto st = std::make_shared<gate_state>();
  return {
      [=](acquire_atom) -> caf::result<caf::ok_atom> {
        if (st->used < limit) {
          ++st->used;
          return caf::ok_atom::value;
        }
        st->waiting.push_back(self->make_response_promise());
        return caf::delegated<caf::ok_atom>{};
      },
      [=](release_atom) {
        if (!st->waiting.empty()) {
          st->waiting.front().deliver(caf::ok_atom::value);  // the slot passes on
          st->waiting.pop_front();
        } else if (st->used > 0) {
          --st->used;
        }
      },
  };
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<reply>("dairector_reply");
  cfg.add_message_type<job>("dairector_job");
  cfg.add_message_type<stage_result>("dairector_result");
}

std::string describe(const caf::error& err) {
  if (!err) return "no error";
  // Our own failures (the journal's) carry their sentence as the context.
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0)) return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

}  // namespace dairector::actors
