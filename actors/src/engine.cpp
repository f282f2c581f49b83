#include "dairector/engine.hpp"

#include <filesystem>
#include <map>
#include <mutex>

#include <caf/all.hpp>

#include "dairector/actors/journal.hpp"
#include "dairector/actors/messages.hpp"
#include "dairector/actors/director.hpp"
#include "dairector/actors/supervisor.hpp"
#include "dairector/journal/open.hpp"
#include "dairector/journal/solo_lease.hpp"
#include "dairector/journal_store.hpp"
#include "dairector/plan.hpp"

namespace dairector {

namespace {

/// What `dairector run` waits at most for a journal's answer: two leases
/// (docs/cluster.md#faults).
constexpr std::int64_t journal_answer_timeout_ms = 2 * lease_ms_default;

error from_reply(const actors::reply& r) { return make_error(actors::errc_of(r), r.message); }

error gone(const std::string& id, const caf::error& err) {
  if (auto code = actors::errc_of(err)) return make_error(*code, actors::describe(err));  // the director's own
  return make_error(errc::not_found, "pipeline '" + id + "' is not hosted here: " + actors::describe(err));
}

}  // namespace

struct detail::engine_core {
  caf::actor_system* sys = nullptr;
  engine_options opt;
  std::shared_ptr<actors::handler_registry> handlers = std::make_shared<actors::handler_registry>();
  std::unique_ptr<solo_lease> lease;  // a PostgreSQL journal only
  caf::actor journal;
  caf::actor committer;  // a durable journal only
  caf::actor director;
  std::mutex mutex;  // guards what follows: an engine may be used from many threads
  std::vector<std::string> known;  // in the journal, in order of creation
  bool stopped = false;
};


namespace {

// A request to pipeline `id`'s supervisor, through the director (which
// rebuilds a resting pipeline first); `on_answer` gets its answer.
template <class OnAnswer, class... Ts>
std::optional<error> route(caf::scoped_actor& self, const caf::actor& director, const std::string& id,
                           OnAnswer on_answer, Ts&&... xs) {
  std::optional<error> failed;
  self->request(director, caf::infinite, id, caf::make_message(std::forward<Ts>(xs)...))
      .receive(on_answer, [&](caf::error& err) { failed = gone(id, err); });
  return failed;
}

result<system_state> ask_state(caf::scoped_actor& self, const caf::actor& director, const std::string& id) {
  system_state s;
  if (auto err = route(self, director, id, [&](system_state& now) { s = std::move(now); }, actors::state_atom::value))
    return *err;
  return s;
}

// A request to the director answered with a reply (a creation, a recovery,
// a routed command): its refusal, or the request's failure, if any.
template <class... Ts>
std::optional<error> ask_reply(caf::scoped_actor& self, const caf::actor& director, const std::string& id,
                               Ts&&... xs) {
  std::optional<error> failed;
  self->request(director, caf::infinite, std::forward<Ts>(xs)...)
      .receive([&](actors::reply& r) { if (!r.is_ok()) failed = from_reply(r); },
               [&](caf::error& err) { failed = gone(id, err); });
  return failed;
}

// A command, answered once its event is durable; then the state.
template <class... Ts>
result<system_state> command(const detail::engine_core& c, const std::string& id, Ts&&... xs) {
  caf::scoped_actor self{*c.sys};
  if (auto err = ask_reply(self, c.director, id, id, caf::make_message(std::forward<Ts>(xs)...))) return *err;
  return ask_state(self, c.director, id);
}

}  // namespace

// --- pipeline_handle ----------------------------------------------------------------

pipeline_handle::pipeline_handle(std::shared_ptr<detail::engine_core> core, std::string id)
    : core_(std::move(core)), id_(std::move(id)) {}

result<system_state> pipeline_handle::state() const {
  caf::scoped_actor self{*core_->sys};
  return ask_state(self, core_->director, id_);
}

result<system_state> pipeline_handle::wait(std::chrono::milliseconds timeout) const {
  caf::scoped_actor self{*core_->sys};
  system_state s;
  // A watcher from the state now on (the supervisor monitors it: it is
  // forgotten when `self` goes).
  if (auto err = route(self, core_->director, id_, [&](system_state& now) { s = std::move(now); },
                       actors::watch_atom::value, caf::actor{self}))
    return *err;
  std::optional<error> failed;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!failed && outcome(s) == pipeline_outcome::active) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error(errc::unavailable, "pipeline '" + id_ + "' is still active");
    self->receive([&](actors::state_update& u) { s = std::move(u.state); },
                  [&](actors::journal_failed_atom, const std::string& why) { failed = make_error(errc::journal, why); },
                  caf::after(left) >> [] {});
  }
  if (failed) return *failed;
  return s;
}

result<system_state> pipeline_handle::confirm(std::string note, std::string by) const {
  return command(*core_, id_, actors::resolve_atom::value, true, std::move(note), std::move(by));
}

result<system_state> pipeline_handle::reject(std::string note, std::string by) const {
  return command(*core_, id_, actors::resolve_atom::value, false, std::move(note), std::move(by));
}

result<system_state> pipeline_handle::cancel(std::string stage, std::string by) const {
  return command(*core_, id_, actors::cancel_atom::value, std::move(stage), std::move(by));
}

result<system_state> pipeline_handle::retry(std::string stage, std::string by) const {
  return command(*core_, id_, actors::retry_atom::value, std::move(stage), std::move(by));
}

result<system_state> pipeline_handle::change_context(std::string stage, json context, std::string by) const {
  return command(*core_, id_, actors::context_atom::value, std::move(stage), context.dump(), std::move(by));
}

result<std::shared_ptr<void>> pipeline_handle::watch(watch_fn fn) const {
  auto& sys = *core_->sys;
  // A watcher of its own, stopped when the last owner of the returned object
  // lets go. Spawned with an argument: CAF 0.17 dereferences a null argument
  // tuple when a function actor is spawned without any (UBSan reports it).
  caf::actor watcher = sys.spawn(
      [](caf::event_based_actor*, watch_fn f) -> caf::behavior {
        return {[f](actors::state_update& u) { f(u.applied, u.state); },
                [](actors::journal_failed_atom, const std::string&) {}};
      },
      std::move(fn));
  // Asked, not told: once the supervisor answered, it sends every later event.
  caf::scoped_actor self{sys};
  if (auto err = route(self, core_->director, id_, [](system_state&) {}, actors::watch_atom::value, watcher)) {
    caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
    return *err;
  }
  return std::shared_ptr<void>(new caf::actor(watcher), [](void* p) {
    auto* a = static_cast<caf::actor*>(p);
    caf::anon_send_exit(*a, caf::exit_reason::user_shutdown);
    delete a;
  });
}

// --- engine ----------------------------------------------------------------------------

engine::engine(std::shared_ptr<detail::engine_core> c) : c_(std::move(c)) {}

engine::~engine() { (void)stop(); }

result<std::unique_ptr<engine>> engine::open(caf::actor_system& sys, engine_options opt) {
  if (opt.command_limit == 0) return make_error(errc::refused, "command_limit must be at least 1");
  auto c = std::make_shared<detail::engine_core>();
  c->sys = &sys;
  if (opt.workdir.empty()) opt.workdir = std::filesystem::current_path().string();
  if (opt.journal.empty()) {
    c->journal = sys.spawn(actors::memory_journal, actors::memory_journal_events_max);
  } else {
    journal_options jo;
    if (is_postgresql_uri(opt.journal)) jo.owner = solo_lease::node_name();
    jo.answer_timeout_ms = journal_answer_timeout_ms;
    auto store = open_journal(opt.journal, jo);
    if (!store) return store.err();
    auto lease = solo_lease::take(opt.journal, lease_ms_default);
    if (!lease) return lease.err();
    c->lease = std::move(*lease);
    auto existing = (*store)->pipelines();
    if (!existing) return existing.err();
    for (const auto& p : *existing) c->known.push_back(p.id);
    // `stop` waits for the committer: the store (and the journal's owner
    // lock) is released when it ends, and the journal may be opened again.
    c->journal = actors::spawn_durable_journal(sys, std::shared_ptr<journal_store>(std::move(*store)), &c->committer);
  }
  actors::director_config dc;
  dc.journal = c->journal;
  dc.command_limit = opt.command_limit;
  dc.workers = std::make_shared<actors::local_workers>(c->handlers, opt.worker);
  if (opt.journal.empty()) dc.evict_after_ms = -1;  // nothing to rebuild a resting pipeline from
  c->director = sys.spawn(actors::director, std::move(dc));
  c->opt = std::move(opt);
  return std::unique_ptr<engine>(new engine(std::move(c)));
}

actors::handler_registry& engine::handlers() { return *c_->handlers; }

const caf::actor& engine::director() const { return c_->director; }

result<pipeline_handle> engine::start(const std::string& id, std::shared_ptr<const pipeline_spec> spec, json input) {
  if (!spec) return make_error(errc::spec_invalid, "no spec");
  std::lock_guard<std::mutex> lock(c_->mutex);
  if (c_->stopped) return make_error(errc::unavailable, "the engine is stopped");
  if (std::find(c_->known.begin(), c_->known.end(), id) != c_->known.end())
    return make_error(errc::refused, "the journal already has pipeline '" + id + "': resume it, or name a new one");
  // Answered once `pipeline_created` is durable.
  caf::scoped_actor self{*c_->sys};
  auto in = input.is_null() ? nullptr : std::make_shared<const json>(std::move(input));
  if (auto err = ask_reply(self, c_->director, id, actors::create_atom::value, id, std::move(spec), c_->opt.workdir, in))
    return *err;
  c_->known.push_back(id);
  return pipeline_handle(c_, id);
}

result<pipeline_handle> engine::start(const std::string& id, std::string_view spec_json, json input) {
  auto spec = parse_spec_text(spec_json);
  if (!spec) return spec.err();
  return start(id, std::move(*spec), std::move(input));
}

result<pipeline_handle> engine::resume(const std::string& id) {
  std::lock_guard<std::mutex> lock(c_->mutex);
  if (c_->stopped) return make_error(errc::unavailable, "the engine is stopped");
  caf::scoped_actor self{*c_->sys};
  bool hosted = false;
  self->request(c_->director, caf::infinite, actors::known_atom::value, id)
      .receive([&](bool) { hosted = true; }, [](caf::error&) {});
  if (hosted) return pipeline_handle(c_, id);
  std::optional<error> failed;
  if (is_postgresql_uri(c_->opt.journal))  // owned before its history is read (docs/cluster.md#one-process)
    self->request(c_->journal, caf::infinite, actors::own_atom::value, id)
        .receive([](std::uint64_t) {}, [&](caf::error& err) { failed = make_error(errc::journal, actors::describe(err)); });
  if (failed) return *failed;
  std::vector<event> history;
  self->request(c_->journal, caf::infinite, actors::history_atom::value, id)
      .receive([&](std::vector<event>& h) { history = std::move(h); },
               [&](caf::error& err) { failed = make_error(errc::journal, actors::describe(err)); });
  if (failed) return *failed;
  if (history.empty()) return make_error(errc::not_found, "the journal has no pipeline '" + id + "'");
  auto state = replay(history);
  if (!state) return state.err();
  if (auto err = ask_reply(self, c_->director, id, actors::recover_atom::value, std::move(*state), c_->opt.workdir))
    return *err;
  return pipeline_handle(c_, id);
}

result<std::vector<std::string>> engine::pipelines() const {
  std::lock_guard<std::mutex> lock(c_->mutex);
  return c_->known;
}

result<bool> engine::stop() {
  {
    std::lock_guard<std::mutex> lock(c_->mutex);
    if (c_->stopped) return true;
    c_->stopped = true;
  }
  // Rule 5 on the way out: the director stops every supervisor and then
  // itself (each event they appended is then queued at the journal); then
  // the journal commits what it holds.
  caf::scoped_actor self{*c_->sys};
  self->monitor(c_->director);
  self->send(c_->director, actors::stop_atom::value);
  self->receive([](caf::down_msg&) {});
  std::optional<error> failed;
  self->request(c_->journal, caf::infinite, actors::journal_sync_atom::value)
      .receive([](std::uint64_t) {}, [&](caf::error& err) { failed = make_error(errc::journal, actors::describe(err)); });
  if (c_->committer) self->monitor(c_->committer);
  self->send_exit(c_->journal, caf::exit_reason::user_shutdown);
  if (c_->committer) {
    self->send_exit(c_->committer, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});  // the store is closed
  }
  c_->lease.reset();  // after the last commit: the pipelines are let go
  if (failed) return *failed;
  return true;
}

json to_json(const system_state& s) { return state_to_json(s); }

}  // namespace dairector
