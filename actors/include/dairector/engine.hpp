// The facade for the common case (docs/embedding.md#the-engine): start a
// pipeline (in memory or on a durable journal), wait for its outcome, answer
// confirmations, watch its events and read its state as JSON, without
// speaking the supervisor's messages yourself.
//
//   caf::actor_system_config cfg;
//   dairector::actors::configure_system(cfg);
//   caf::actor_system sys{cfg};
//   dairector::engine_options opt;
//   opt.journal = "app.db";                        // SQLite; empty: in memory
//   auto eng = dairector::engine::open(sys, opt);  // result<std::unique_ptr<engine>>
//   (*eng)->handlers().add("plan", [](const json& in) -> result<json> { ... });
//   auto p = (*eng)->start("p-1", spec);          // durable once it returns
//   auto s = p->wait();                           // done, failed, cancelled or waiting
//   if (s && s->pending()) p->confirm("looks good");
//   std::cout << dairector::to_json(*p->wait()) << "\n";
//
// Threads and ownership: every member function blocks its caller until the
// pipeline's supervisor answers, so call them from your own threads, never
// from inside an actor or a watch callback. The engine is a director
// (actors/director.hpp) with local workers, a command gate and one journal:
// finished pipelines rest (only their id stays in memory) and come back when
// asked for. Destroying the engine (or calling `stop`) stops every pipeline
// it hosts (running commands are killed; the next `resume` records their runs
// interrupted and runs them again) and returns once every event is durable;
// handles that outlive it answer errors from then on. The actor system must
// outlive the engine.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "dairector/actors/workers.hpp"
#include "dairector/event.hpp"
#include "dairector/result.hpp"
#include "dairector/spec.hpp"
#include "dairector/state.hpp"

namespace dairector {

struct engine_options {
  /// Empty: in memory (nothing survives the process). Otherwise where the
  /// journal is, as `--journal` takes it: a SQLite file (created if missing)
  /// or a `postgresql://` URI (this process then holds a lease, as `dairector
  /// run` does: docs/cluster.md#one-process).
  std::string journal;
  /// Where command stages run; empty: the current folder.
  std::string workdir;
  /// At most this many stage commands at once, over every pipeline (at least 1).
  std::size_t command_limit = 8;
  /// Who the engine's own decisions are by (`by` of its events).
  std::string by = "system";
  /// Who runs the in-process handlers (`by` of their results).
  std::string worker = "worker:embed";
};

class engine;
namespace detail {
struct engine_core;  // engine.cpp: what an engine and its handles share
}

/// One pipeline hosted by an engine. Cheap to copy; every copy names the same pipeline.
class pipeline_handle {
 public:
  const std::string& id() const noexcept { return id_; }

  /// The state now.
  result<system_state> state() const;
  /// Blocks until nothing more happens by itself: the outcome is done,
  /// failed, cancelled or waiting (for a confirmation). Then returns that
  /// state; an error if the journal failed (errc::journal), the pipeline is
  /// gone (errc::not_found) or `timeout` passed first (errc::unavailable).
  result<system_state> wait(std::chrono::milliseconds timeout = std::chrono::hours(24 * 365)) const;

  /// Resolve the pending confirmation; answered once the event is durable.
  /// Refusals (nothing pending, the journal behind) are errors with the reason.
  result<system_state> confirm(std::string note = {}, std::string by = "user:embed") const;
  result<system_state> reject(std::string note = {}, std::string by = "user:embed") const;
  /// Cancel one running stage, or (empty) the whole pipeline.
  result<system_state> cancel(std::string stage = {}, std::string by = "user:embed") const;
  /// Retry a failed or cancelled stage on purpose (docs/events.md#retry_requested):
  /// it and the failed or cancelled stages downstream of it start again.
  result<system_state> retry(std::string stage, std::string by = "user:embed") const;
  /// A context change on `stage`: every stage downstream of it becomes outdated.
  result<system_state> change_context(std::string stage, json context, std::string by = "user:embed") const;

  /// Calls `fn` with every event applied after `watch` returns and the state
  /// right after it, in seq order (a completion only once it is durable), on
  /// a thread of the actor system: `fn` must return quickly and must not call
  /// the engine. Watching stops when the returned object is destroyed.
  using watch_fn = std::function<void(const event& applied, const system_state& after)>;
  [[nodiscard]] result<std::shared_ptr<void>> watch(watch_fn fn) const;

 private:
  friend class engine;
  pipeline_handle(std::shared_ptr<detail::engine_core> core, std::string id);
  std::shared_ptr<detail::engine_core> core_;
  std::string id_;
};

class engine {
 public:
  /// Opens the journal (errors as `dairector` reports them: errc::journal
  /// for a journal another process owns, a corrupt one, I/O).
  static result<std::unique_ptr<engine>> open(caf::actor_system& sys, engine_options opt = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// The in-process stage handlers (`{"handler": NAME}` in a spec). Add them
  /// before starting a pipeline that uses them.
  actors::handler_registry& handlers();

  /// Creates pipeline `id` and starts running it. Returns once its creation
  /// is durable. Refused if the journal already holds `id` (resume it).
  /// `input` (not null) is the pipeline's input: every stage gets it as
  /// "input" (docs/protocol.md#the-input).
  result<pipeline_handle> start(const std::string& id, std::shared_ptr<const pipeline_spec> spec,
                                json input = nullptr);
  /// Parses `spec_json` (errc::spec_invalid naming the stage and the problem), then `start`.
  result<pipeline_handle> start(const std::string& id, std::string_view spec_json, json input = nullptr);
  /// Recovers pipeline `id` from the journal (rule 8: runs that were going
  /// on are recorded interrupted and start again) and carries it on.
  result<pipeline_handle> resume(const std::string& id);
  /// The ids of the pipelines in the journal (in memory: those started here).
  result<std::vector<std::string>> pipelines() const;

  /// Stops every pipeline and waits until the journal holds everything
  /// acknowledged. Called by the destructor; later calls do nothing.
  result<bool> stop();

  /// The director that hosts the pipelines (actors/director.hpp), for the
  /// messages the facade does not wrap: `(id, caf::make_message(...))`
  /// reaches pipeline `id`'s supervisor.
  const caf::actor& director() const;

 private:
  explicit engine(std::shared_ptr<detail::engine_core> c);
  std::shared_ptr<detail::engine_core> c_;
};

/// The state as the object of `dairector status --json` (docs/cli.md#the-state-as-json).
json to_json(const system_state& s);

}  // namespace dairector
