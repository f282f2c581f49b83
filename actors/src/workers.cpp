#include "dairector/actors/workers.hpp"

#include "dairector/actors/process.hpp"
#include "dairector/actors/stage_logs.hpp"
#include "dairector/journal/trace.hpp"
#include "dairector/json_bounds.hpp"

namespace dairector::actors {

namespace {

using sleep_done_atom = caf::atom_constant<caf::atom("dslept")>;

stage_result make_result(const job& j, const std::string& worker) {
  stage_result r;
  r.pipeline = j.pipeline;
  r.stage_index = j.stage_index;
  r.run = j.run;
  r.worker = worker;
  r.capability = j.capability;  // echoed: what makes the result the run's own
  return r;
}

// Admits an output within the bounds of a value (json_bounds.hpp), whatever
// produced it: past them it would break the documents that wrap it (the
// event, the next stage's input), so the run fails saying which bound.
void set_output(stage_result& r, json value, std::string_view what) {
  if (auto why = value_refusal(value, what)) {
    r.error = *why;
    return;
  }
  r.ok = true;
  r.output_value = std::make_shared<const json>(std::move(value));
}

// echo's output: its inputs and context, and the pipeline's input when it
// has one (docs/spec.md#builtin).
json echo_output(const json& input) {
  json out{{"inputs", input.value("inputs", json::object())}, {"context", input.value("context", json::object())}};
  if (auto given = input.find("input"); given != input.end() && !given->is_null()) out["input"] = *given;
  return out;
}

}  // namespace

result<std::shared_ptr<const run_spec>> job_run_spec(const job& j) {
  // In process: the spec's own run object, shared, not copied.
  if (j.spec_value && j.stage_index < j.spec_value->size())
    return std::shared_ptr<const run_spec>(j.spec_value, &(*j.spec_value)[j.stage_index].run);
  json_fault fault{};
  auto doc = parse_json(j.run_spec, "the job's run spec", json_limits{}, &fault);
  if (!doc)
    return make_error(errc::decode_failed,
                      fault == json_fault::not_json ? "job has a run spec that is not JSON" : doc.err().message);
  // Reuse the spec parser: a one-stage pipeline around this run object.
  json wrapper = {{"name", "job"}, {"stages", json::array({{{"name", "job"}, {"run", std::move(*doc)}}})}};
  auto spec = parse_spec(wrapper);
  if (!spec) return make_error(errc::decode_failed, spec.err().message);
  return std::shared_ptr<const run_spec>(*spec, &(**spec)[0].run);
}

stage_result run_job(const job& j, const run_spec& r, const handler_registry* handlers, const std::string& worker,
                     const std::function<void(pid_t)>& on_started,
                     const std::function<void(std::string_view)>& on_stderr) {
  stage_result out = make_result(j, worker);
  json parsed;
  if (!j.input_value) {
    // From a server: bounded in depth like every document; its size is the
    // sum of the admitted outputs it wraps, and it has already arrived.
    json_fault fault{};
    auto doc = parse_json(j.input, "the job's input", json_limits{json_depth_max, SIZE_MAX}, &fault);
    if (!doc) {
      out.error = fault == json_fault::not_json ? "the job's input is not JSON" : doc.err().message;
      return out;
    }
    parsed = std::move(*doc);
  }
  const json& input = j.input_value ? *j.input_value : parsed;
  // echo's output nests its inputs two levels deeper: a chain of them grows
  // until a run goes past the bound of a value and fails.
  const char* echoed = r.what == run_spec::kind::sleep  ? "the output of builtin sleep"
                       : r.what == run_spec::kind::fail ? "the output of builtin fail"
                                                        : "the output of builtin echo";
  switch (r.what) {
    case run_spec::kind::echo:
    case run_spec::kind::sleep: set_output(out, echo_output(input), echoed); break;
    case run_spec::kind::fail:
      if (j.attempt <= r.times)
        out.error = "failed on purpose (builtin fail: attempt " + std::to_string(j.attempt) + " of the first " +
                    std::to_string(r.times) + ")";
      else
        set_output(out, echo_output(input), echoed);
      break;
    case run_spec::kind::handler: {
      auto found = handlers ? handlers->handlers.find(r.handler) : decltype(handlers->handlers.end()){};
      if (!handlers || found == handlers->handlers.end()) {
        out.error = "no in-process handler named '" + r.handler + "' is registered";
        break;
      }
      try {
        auto res = found->second.fn(input);
        if (res) set_output(out, std::move(*res), "the output of handler '" + r.handler + "'");
        else out.error = res.err().message;
      } catch (const std::exception& e) {
        out.error = "handler '" + r.handler + "' threw: " + e.what();
      } catch (...) {
        out.error = "handler '" + r.handler + "' threw a non-standard exception";
      }
      break;
    }
    case run_spec::kind::command: {
      const std::string text = j.input_value ? j.input_value->dump() : j.input;
      auto p = run_process(r.argv, r.env, j.workdir, text, std::chrono::seconds(r.timeout_s), on_started,
                           on_stderr);
      if (!p.ok) {
        out.error = p.error;
        break;
      }
      // One JSON value on standard output, within the bounds of a value
      // and with no key twice in an object.
      json_fault fault{};
      auto value = parse_json(p.output, "the command's output", value_limits, &fault);
      if (!value && fault == json_fault::not_json) {
        std::string shown = p.output.size() > 200 ? p.output.substr(0, 200) + "..." : p.output;
        while (!shown.empty() && shown.back() == '\n') shown.pop_back();
        out.error = "the command's output is not one JSON value: '" + shown + "'";
        if (!p.error.empty()) out.error += "; stderr: " + p.error;
        break;
      }
      if (!value) {
        out.error = value.err().message;
        break;
      }
      set_output(out, std::move(*value), "the command's output");
      break;
    }
  }
  return out;
}

namespace {

// Serves the non-blocking jobs of one supervisor; sleep waits on a timer, not
// a thread.
caf::behavior shared_worker(caf::event_based_actor* self, std::shared_ptr<const handler_registry> handlers,
                            std::string name) {
  return {
      [=](const job& j) {
        trace::mark(trace::point::job_received);
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        auto spec = job_run_spec(j);
        if (spec && (*spec)->what == run_spec::kind::sleep && (*spec)->ms > 0) {
          self->delayed_send(self, std::chrono::milliseconds((*spec)->ms), sleep_done_atom::value, j, sender);
          return;
        }
        if (spec) {
          self->send(sender, run_job(j, **spec, handlers.get(), name, nullptr));
          return;
        }
        stage_result r = make_result(j, name);
        r.error = spec.err().message;
        self->send(sender, std::move(r));
      },
      [=](sleep_done_atom, const job& j, const caf::actor& to) {
        run_spec echo;  // after the sleep, like echo
        self->send(to, run_job(j, echo, nullptr, name, nullptr));
      },
  };
}

// One run on its own thread: a command or a blocking in-process handler.
caf::behavior blocking_worker(caf::event_based_actor* self, std::shared_ptr<const handler_registry> handlers,
                              std::string name, stage_log_sink logs) {
  return {
      [=](const job& j) {
        trace::mark(trace::point::job_received);
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        auto spec = job_run_spec(j);
        stage_result r = make_result(j, name);
        if (!spec) {
          r.error = spec.err().message;
        } else {
          // The supervisor learns the run's id so that a cancel can kill its processes.
          auto started = [&](pid_t pgid) {
            self->send(sender, pgid_atom::value, j.run, static_cast<std::int32_t>(pgid));
          };
          // A command's standard error is its log: sent as it comes, before
          // the result (so the log is whole when the result arrives).
          const bool logged = (*spec)->what == run_spec::kind::command && (logs.writer || logs.to_sender);
          stage_log_sender log(self, logs.to_sender ? sender : logs.writer, j.pipeline, j.stage, j.run, j.capability);
          if (logged) log.open();
          auto on_stderr = [&](std::string_view bytes) { log.add(bytes); };
          r = run_job(j, **spec, handlers.get(), name, started,
                      logged ? std::function<void(std::string_view)>(on_stderr) : nullptr);
          if (logged) log.close();
        }
        self->send(sender, std::move(r));
        self->quit();
      },
  };
}

}  // namespace

local_workers::local_workers(std::shared_ptr<const handler_registry> handlers, std::string name,
                             stage_log_sink logs)
    : handlers_(std::move(handlers)), name_(std::move(name)), logs_(std::move(logs)) {}

bool local_workers::reusable(const run_spec& r) const {
  switch (r.what) {
    case run_spec::kind::echo:
    case run_spec::kind::sleep:
    case run_spec::kind::fail: return true;
    case run_spec::kind::handler: {
      if (!handlers_) return true;  // unknown handler: fails at once, never blocks
      auto it = handlers_->handlers.find(r.handler);
      return it == handlers_->handlers.end() || !it->second.blocking;
    }
    case run_spec::kind::command: return false;
  }
  return false;
}

caf::actor local_workers::spawn(caf::local_actor* supervisor, const run_spec& r) {
  // Not linked: a worker that dies must not take the supervisor with it (the
  // supervisor monitors it). Only the supervisor holds a worker's handle, so
  // an idle worker goes away with it; a command's processes are killed by
  // the supervisor when it stops.
  if (reusable(r)) return supervisor->spawn(shared_worker, handlers_, name_);
  return supervisor->spawn<caf::detached>(blocking_worker, handlers_, name_, logs_);
}

caf::actor worker_for(caf::scheduled_actor* owner, worker_factory& factory, shared_workers& shared,
                      const run_spec& r) {
  if (!factory.reusable(r)) {
    auto worker = factory.spawn(owner, r);
    owner->monitor(worker);
    return worker;
  }
  auto& slot = shared[static_cast<int>(r.what)];
  if (!slot) {
    slot = factory.spawn(owner, r);
    owner->monitor(slot);
  }
  return slot;
}

void forget_worker(shared_workers& shared, const caf::actor_addr& gone) {
  for (auto it = shared.begin(); it != shared.end();) it = it->second.address() == gone ? shared.erase(it) : std::next(it);
}

}  // namespace dairector::actors
