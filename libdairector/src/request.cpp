#include "dairector/request.hpp"

#include "dairector/json_bounds.hpp"
#include "dairector/reducer.hpp"

namespace dairector {

const char* to_string(request::kind k) {
  switch (k) {
    case request::kind::start: return "start";
    case request::kind::context: return "invalidate";
    case request::kind::confirm: return "confirm";
    case request::kind::reject: return "reject";
    case request::kind::cancel: return "cancel";
    case request::kind::rollback: return "rollback";
    case request::kind::retry: return "retry";
  }
  return "?";
}

event_type event_type_of(request::kind k) {
  switch (k) {
    case request::kind::start: return event_type::stage_started;
    case request::kind::context: return event_type::context_changed;
    case request::kind::confirm:
    case request::kind::reject: return event_type::confirmation_resolved;
    case request::kind::cancel: return event_type::stage_cancelled;
    case request::kind::rollback: return event_type::rolled_back;
    case request::kind::retry: return event_type::retry_requested;
  }
  return event_type::stage_cancelled;
}

result<event> event_for(const system_state& s, const request& r, std::int64_t at_ms, std::span<const event> history) {
  if (s.empty()) return make_error(errc::not_found, "the pipeline has no events yet");
  event e;
  e.seq = s.seq() + 1;
  e.at_ms = at_ms;
  e.by = r.by;
  e.pipeline = s.pipeline();
  e.type = event_type_of(r.what);
  auto stage_named = [&](const std::string& name) -> result<stage_index> {
    const stage_index i = s.spec().find(name);
    if (i == no_stage) return make_error(errc::not_found, "pipeline '" + s.pipeline() + "' has no stage '" + name + "'");
    return i;
  };
  auto set_stage = [&]() -> std::optional<error> {
    auto i = stage_named(r.stage);
    if (!i) return i.err();
    e.stage = *i;
    return std::nullopt;
  };
  switch (r.what) {
    case request::kind::start:
      if (auto err = set_stage()) return *err;
      e.run = e.seq;  // a fresh run id: the seq of its start (rule 3)
      break;
    case request::kind::context:
      if (auto err = set_stage()) return *err;
      if (r.context) {
        if (auto why = value_refusal(*r.context, "the context")) return make_error(errc::decode_failed, *why);
        e.payload = r.context;
      } else {
        // No new context: the stage's own again (the change still cascades).
        const auto& current = s.payload(e.stage).context;
        e.payload = current ? current : std::make_shared<const json>(json::object());
      }
      break;
    case request::kind::confirm:
    case request::kind::reject: {
      const confirmation* c = s.pending();
      if (!c) return make_error(errc::refused, "no confirmation is pending");
      e.stage = c->stage;
      e.approved = r.what == request::kind::confirm;
      e.text = r.note;
      break;
    }
    case request::kind::cancel:
      if (!r.stage.empty()) {
        if (auto err = set_stage()) return *err;
        e.run = s.stage(e.stage).run;
      }
      break;
    case request::kind::rollback: {
      e.to = r.to;
      // A seq past the end of the history is not_found (404), naming the
      // last seq; one the pipeline cannot return to is refused.
      auto target = r.to >= 1 ? state_at(history, r.to) : result<system_state>(system_state{});
      if (!target) return target.err();
      if (r.to < 1 || r.to >= e.seq)
        return make_error(errc::refused, "cannot roll back to seq " + std::to_string(r.to) +
                                             ": it must be between 1 and " + std::to_string(s.seq()));
      e.target = std::make_shared<const system_state>(std::move(*target));
      break;
    }
    case request::kind::retry:
      if (auto err = set_stage()) return *err;
      break;
  }
  if (auto err = check(s, e)) return *err;
  return e;
}

}  // namespace dairector
