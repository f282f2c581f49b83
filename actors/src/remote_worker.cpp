#include "dairector/actors/remote_worker.hpp"

#include <sys/stat.h>

#include "dairector/actors/process.hpp"

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

}  // namespace

caf::behavior worker_endpoint(endpoint_actor* self, endpoint_config cfg) {
  auto& st = self->state;
  st.workers = std::make_shared<local_workers>(cfg.handlers, cfg.name);
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
      r.error = "the worker running it on '" + s.cfg.name + "' stopped (" + caf::to_string(dm.reason) + ")";
      self->send(it->second.reply_to, std::move(r));
      it = s.runs.erase(it);
    }
  });
  self->set_default_handler([](caf::scheduled_actor*, caf::message_view&) -> caf::result<caf::message> {
    return caf::make_error(caf::sec::unexpected_message);
  });
  return {
      [=](job& j) {
        auto& s = self->state;
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!sender) return;  // nobody to answer
        auto spec = run_spec_of(s, j);
        if (!spec) {
          stage_result r;
          r.pipeline = j.pipeline;
          r.stage_index = j.stage_index;
          r.run = j.run;
          r.worker = s.cfg.name;
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
        s.runs[{j.pipeline, j.run}] = endpoint_run{sender, worker.address(), j.stage_index, 0, false};
        self->send(worker, std::move(j));
      },
      [=](stage_result& r) {
        auto& s = self->state;
        auto it = s.runs.find({r.pipeline, r.run});
        if (it == s.runs.end()) return;
        caf::actor to = std::move(it->second.reply_to);
          s.runs.erase(it);
        self->send(to, as_text(std::move(r)));
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
      [=](kill_atom, const std::string& pipeline, std::uint64_t run) {
        auto it = self->state.runs.find({pipeline, run});
        if (it != self->state.runs.end()) kill_run(it->second);
      },
      [=](stop_atom) {
        for (auto& [key, r] : self->state.runs) kill_run(r);
        self->state.runs.clear();
      },
  };
}

}  // namespace dairector::actors
