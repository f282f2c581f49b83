#include "dairector/actors/remote_worker.hpp"

#include <sys/stat.h>

#include "dairector/actors/process.hpp"
#include "dairector/actors/secret.hpp"
#include "dairector/actors/stage_logs.hpp"

namespace dairector::actors {

namespace {

bool is_directory(const std::string& path) {
  struct stat sb{};
  return !path.empty() && ::stat(path.c_str(), &sb) == 0 && S_ISDIR(sb.st_mode);
}

void kill_run(endpoint_run& r) {
  r.killed = true;
  kill_process_group(r.pgid);
}

// The job's run spec, parsed once per distinct text.
result<std::shared_ptr<const run_spec>> run_spec_of(endpoint_state& s, const job& j) {
  if (auto it = s.run_specs.find(j.run_spec); it != s.run_specs.end()) return it->second;
  auto spec = job_run_spec(j);
  if (!spec) return spec;
  if (s.run_specs.size() >= endpoint_run_specs_max) s.run_specs.clear();
  s.run_specs.emplace(j.run_spec, *spec);
  return spec;
}

// The result goes back with its output as text: values do not cross processes.
stage_result as_text(stage_result r) {
  if (r.output_value) {
    r.output = r.output_value->dump();
    r.output_value.reset();
  }
  return r;
}

// What it does not take: counted; the first few are logged.
void note_dropped(endpoint_actor* self, const std::string& what) {
  actors::note_dropped(self, what, "", endpoint_drops_logged_max);
}

// From the gate it registered with, with the secret it registered with. The
// sender alone proves nothing (a routed message names any sender); the
// secret went only to that gate.
bool from_server(endpoint_actor* self, const std::string& secret) {
  const auto& st = self->state;
  const auto& s = self->current_sender();
  return st.server && !st.secret.empty() && s && s->address() == st.server.address() &&
         tokens_equal(secret, st.secret);
}

void stop_runs(endpoint_actor* self) {
  for (auto& [key, r] : self->state.runs) kill_run(r);
  self->state.runs.clear();
}

}  // namespace

caf::behavior worker_endpoint(endpoint_actor* self, endpoint_config cfg) {
  auto& st = self->state;
  // Standard error comes back here, bounded, and goes on to the gate (stage_logs.hpp).
  st.workers = std::make_shared<local_workers>(cfg.handlers, cfg.name, stage_log_sink{{}, true});
  st.cfg = std::move(cfg);
  // A local worker that stops before answering (killed, crashed) would leave
  // its runs running on the server forever, holding the worker's slots: each
  // is answered failed. (One that answered first has no runs left: its result
  // is queued before its down message.) A shared worker is replaced on the
  // next job.
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& s = self->state;
    forget_worker(s.shared, dm.source);
    for (auto it = s.runs.begin(); it != s.runs.end();) {
      if (it->second.worker != dm.source) {
        ++it;
        continue;
      }
      stage_result r;
      r.pipeline = it->first.first;
      r.stage_index = it->second.stage_index;
      r.run = it->first.second;
      r.worker = s.cfg.name;
      r.capability = it->second.capability;
      r.error = "the worker running it on '" + s.cfg.name + "' stopped (" + caf::to_string(dm.reason) + ")";
      self->send(it->second.reply_to, std::move(r));
      it = s.runs.erase(it);
    }
  });
  drop_what_it_does_not_take(self, [](endpoint_actor* e, const char* what) { note_dropped(e, what); });
  return {
      [=](endpoint_server& server) {
        self->state.server = std::move(server.gate);
        self->state.secret = std::move(server.secret);
      },
      [=](endpoint_stop& stop) {
        stop_runs(self);
        if (stop.quit) self->quit();
      },
      [=](job& j) {
        auto& s = self->state;
        if (!from_server(self, j.secret)) return note_dropped(self, "a job not from the server it registered with");
        j.secret.clear();  // goes no further
        caf::actor sender = s.server;
        auto spec = run_spec_of(s, j);
        if (!spec) {
          stage_result r;
          r.pipeline = j.pipeline;
          r.stage_index = j.stage_index;
          r.run = j.run;
          r.worker = s.cfg.name;
          r.capability = j.capability;
          r.error = spec.err().message;
          self->send(sender, std::move(r));
          return;
        }
        ++s.jobs;
        // Builtins that neither wait nor block (echo, fail) run right here:
        // no hop to a worker actor and back, nothing to kill.
        if ((*spec)->what == run_spec::kind::echo || (*spec)->what == run_spec::kind::fail) {
          self->send(sender, as_text(run_job(j, **spec, s.cfg.handlers.get(), s.cfg.name, nullptr)));
          return;
        }
        if (!s.cfg.workdir.empty() || !is_directory(j.workdir)) j.workdir = s.cfg.workdir;
        caf::actor worker = worker_for(self, *s.workers, s.shared, **spec);
        s.runs[{j.pipeline, j.run}] = endpoint_run{sender, worker.address(), j.stage_index, 0, false, j.capability};
        self->send(worker, std::move(j));
      },
      [=](stage_result& r) {
        // From the local worker running it, and nobody else.
        auto& s = self->state;
        auto it = s.runs.find({r.pipeline, r.run});
        const auto from = self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
        if (it == s.runs.end() || it->second.worker != from) return note_dropped(self, "a result not from its worker");
        caf::actor to = std::move(it->second.reply_to);
        s.runs.erase(it);
        self->send(to, as_text(std::move(r)));
      },
      [=](stage_log_atom, std::string& pipeline, std::string& stage, std::uint64_t run, std::string& capability,
          std::string& bytes, bool last) {
        // From the local worker running it: on to the gate, ahead of the
        // result (the same path keeps the order), with the run's capability.
        auto& s = self->state;
        auto it = s.runs.find({pipeline, run});
        const auto from = self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
        if (it == s.runs.end() || it->second.worker != from) return note_dropped(self, "a log chunk not from its worker");
        self->send(it->second.reply_to, stage_log_atom::value, std::move(pipeline), std::move(stage), run,
                   std::move(capability), std::move(bytes), last);
      },
      [=](pgid_atom, std::uint64_t run, std::int32_t pgid) {
        // From a blocking worker of this process (run ids are per pipeline:
        // the worker that sent it tells which pipeline).
        const auto from = self->current_sender() ? self->current_sender()->address() : caf::actor_addr{};
        for (auto& [key, r] : self->state.runs) {
          if (key.second != run || r.worker != from) continue;
          r.pgid = pgid;
          if (r.killed) kill_process_group(pgid);  // fenced before its process was known
          break;
        }
      },
      [=](kill_atom, const std::string& secret, const std::string& pipeline, std::uint64_t run) {
        if (!from_server(self, secret)) return note_dropped(self, "a kill not from the server it registered with");
        auto it = self->state.runs.find({pipeline, run});
        if (it != self->state.runs.end()) kill_run(it->second);
      },
  };
}

}  // namespace dairector::actors
