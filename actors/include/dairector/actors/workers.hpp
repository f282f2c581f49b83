// Stage workers are actors (docs/design.md#scaling-out). A worker gets a `job`,
// does the stage's work, and sends one `stage_result` back to whoever sent the
// job. Builtins (`echo`, `sleep`, `fail`) never block and share one worker per
// supervisor; commands and in-process C++ handlers may block, so each run gets
// its own detached actor (docs/contributing.md#blocking-work-gets-its-own-thread) and a slow stage never starves the
// scheduler.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <caf/all.hpp>

#include "dairector/actors/messages.hpp"
#include "dairector/result.hpp"
#include "dairector/spec.hpp"

namespace dairector::actors {

/// An in-process stage handler for embedding: the input of docs/protocol.md#the-input in,
/// the output (or an error) out.
using stage_handler = std::function<result<json>(const json& input)>;

struct registered_handler {
  stage_handler fn;
  /// A handler that may block (I/O, sleeping, heavy work) runs on its own
  /// thread per run; one that never blocks runs on the pipeline's shared
  /// worker, like the builtins.
  bool blocking = true;
};

struct handler_registry {
  std::map<std::string, registered_handler> handlers;
  void add(std::string name, stage_handler fn, bool blocking = true) {
    handlers[std::move(name)] = registered_handler{std::move(fn), blocking};
  }
};

/// What the supervisor asks of the worker side. Tests replace it to control
/// exactly when results arrive.
class worker_factory {
public:
  virtual ~worker_factory() = default;
  /// True if one worker of this kind may serve many runs of a pipeline.
  virtual bool reusable(const run_spec& r) const = 0;
  /// A new worker for runs of this kind; the supervisor monitors it and is
  /// the only holder of its handle.
  virtual caf::actor spawn(caf::local_actor* supervisor, const run_spec& r) = 0;
};

/// Where a command's standard error goes (stage_logs.hpp): nowhere, a log
/// writer, or (in a worker process) whoever sent the job, which passes it on.
struct stage_log_sink {
  caf::actor writer;
  bool to_sender = false;
};

/// The workers of this process.
class local_workers : public worker_factory {
public:
  explicit local_workers(std::shared_ptr<const handler_registry> handlers = nullptr,
                         std::string name = "worker:local", stage_log_sink logs = {});
  bool reusable(const run_spec& r) const override;
  caf::actor spawn(caf::local_actor* supervisor, const run_spec& r) override;

private:
  std::shared_ptr<const handler_registry> handlers_;
  std::string name_;
  stage_log_sink logs_;
};

/// The shared workers of one owner (a supervisor, a worker endpoint), by run kind.
using shared_workers = std::unordered_map<int, caf::actor>;

/// The worker for one run of `r`: the owner's shared worker of that kind
/// (spawned the first time) when `factory` says it is reusable, else a new
/// one. The owner monitors every worker it gets here.
caf::actor worker_for(caf::scheduled_actor* owner, worker_factory& factory, shared_workers& shared,
                      const run_spec& r);

/// On the owner's down message: a shared worker that went is spawned anew next time.
void forget_worker(shared_workers& shared, const caf::actor_addr& gone);

/// Runs one job and returns its result (blocking for commands and handlers);
/// `on_started` gets a command's run id (for kill_process_group), `on_stderr`
/// its standard error as it comes (may be empty). Shared by every worker kind.
stage_result run_job(const job& j, const run_spec& r, const handler_registry* handlers, const std::string& worker,
                     const std::function<void(pid_t)>& on_started,
                     const std::function<void(std::string_view)>& on_stderr = {});

/// The run spec of a job: the spec's own (in process), else parsed back
/// from its canonical JSON.
result<std::shared_ptr<const run_spec>> job_run_spec(const job& j);

}  // namespace dairector::actors
