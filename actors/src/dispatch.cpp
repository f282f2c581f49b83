// How a started run reaches a worker: the supervisor's half that talks to
// the command gate (a slot of the global command limit), the registry (a
// worker process with a free slot) and the workers themselves. A run may be
// fenced (cancelled, outdated) while it waits for either; it is then dropped
// here, its slot given back. Split from supervisor.cpp, whose handlers call
// `dispatch` after a start and `release_slot` when a run ends.
#include "dispatch.hpp"

#include <deque>

#include "dairector/actors/secret.hpp"
#include "dairector/plan.hpp"

namespace dairector::actors {

namespace {

using acquire_atom = caf::atom_constant<caf::atom("dacquire")>;
using release_atom = caf::atom_constant<caf::atom("drelease")>;

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
  // The gate sends it: no handle of a supervisor ever reaches a peer (gate.hpp).
  self->send(st.cfg.worker_gate, remote_job{worker, std::move(j)});
}

}  // namespace

void withdraw(supervisor_actor* self, std::uint64_t run, const live_run& r) {
  // Not sent to a worker yet: its assign may be waiting in the registry.
  if (!r.worker && self->state.cfg.registry) self->send(self->state.cfg.registry, withdraw_request{run});
}

void release_slot(supervisor_actor* self, live_run& r) {
  if (r.holds_slot && self->state.cfg.gate) self->send(self->state.cfg.gate, release_atom::value);
  r.holds_slot = false;
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
  // The run's capability: only its job carries it, so only its worker can answer for it.
  j.capability = random_secret();
  live_run& lr = st.runs[run];
  lr.stage = i;
  lr.capability = j.capability;
  if (!st.cfg.registry || !st.cfg.worker_gate) {
    dispatch_local(self, i, run, std::move(j));
    return;
  }
  // The registry names a worker process with a free slot, or none (run here).
  self->request(st.cfg.registry, caf::infinite, assign_request{spec[i].name, st.cfg.pipeline, run})
      .then(
          [=](caf::actor& worker) mutable {
            auto& s = self->state;
            auto it = s.runs.find(run);
            if (it == s.runs.end() || !s.state.is_live_run(i, run)) {  // fenced while waiting
              if (worker) self->send(s.cfg.registry, unassign_request{worker});
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

}  // namespace dairector::actors
