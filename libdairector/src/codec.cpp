#include "dairector/codec.hpp"

#include <array>
#include <cstdio>

#include "dairector/state.hpp"

namespace dairector {

// ---------------------------------------------------------------- names

namespace {
// Frozen: the index is the enum value; names are written to disk.
constexpr std::array<const char*, event_type_count> event_names = {
    "pipeline_created",  "stage_started",    "stage_completed",        "stage_failed",
    "stage_cancelled",   "stage_interrupted", "result_discarded",      "context_changed",
    "confirmation_requested", "confirmation_resolved", "rolled_back", "rerun_requested",
};
}  // namespace

const char* to_string(event_type t) {
  auto i = static_cast<std::size_t>(t);
  return i < event_names.size() ? event_names[i] : "?";
}

std::optional<event_type> event_type_from(std::string_view name) {
  for (std::size_t i = 0; i < event_names.size(); ++i)
    if (name == event_names[i]) return static_cast<event_type>(i);
  return std::nullopt;
}

// ---------------------------------------------------------------- time

namespace {
// Days since 1970-01-01 from a civil date and back (H. Hinnant's algorithms).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
}  // namespace

std::string format_time(std::int64_t at_ms) {
  const std::int64_t days = floor_div(at_ms, 86'400'000);
  std::int64_t rest = at_ms - days * 86'400'000;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rest / 3'600'000), static_cast<long long>(rest / 60'000 % 60),
                static_cast<long long>(rest / 1000 % 60), static_cast<long long>(rest % 1000));
  return buf;
}

std::optional<std::int64_t> parse_time(std::string_view t) {
  // Exactly YYYY-MM-DDTHH:MM:SS.mmmZ, the form format_time writes.
  if (t.size() != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' ||
      t[19] != '.' || t[23] != 'Z')
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t len) -> std::int64_t {
    std::int64_t v = 0;
    for (std::size_t k = at; k < at + len; ++k) {
      if (t[k] < '0' || t[k] > '9') return -1;
      v = v * 10 + (t[k] - '0');
    }
    return v;
  };
  std::int64_t y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2), s = num(17, 2),
               ms = num(20, 3);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 ||
      ms < 0)
    return std::nullopt;
  const std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  std::int64_t back_y;
  unsigned back_m, back_d;
  civil_from_days(days, back_y, back_m, back_d);
  if (back_y != y || back_m != mo || back_d != d) return std::nullopt;  // e.g. February 30
  return days * 86'400'000 + h * 3'600'000 + mi * 60'000 + s * 1000 + ms;
}

// ---------------------------------------------------------------- events

namespace {

bool uses_run(event_type t) {
  switch (t) {
    case event_type::stage_started:
    case event_type::stage_completed:
    case event_type::stage_failed:
    case event_type::stage_cancelled:
    case event_type::stage_interrupted:
    case event_type::result_discarded: return true;
    default: return false;
  }
}

error bad(std::string message) { return make_error(errc::decode_failed, std::move(message)); }

}  // namespace

json encode_event(const event& e, const pipeline_spec* spec) {
  json j = {{"v", event_format_version}, {"seq", e.seq},       {"at", format_time(e.at_ms)},
            {"by", e.by},                {"pipeline", e.pipeline}, {"type", to_string(e.type)}};
  const pipeline_spec* names = e.type == event_type::pipeline_created ? e.spec.get() : spec;
  auto stage_name = [&](stage_index i) -> json {
    if (i == no_stage) return nullptr;
    if (names && i < names->size()) return (*names)[i].name;
    return "#" + std::to_string(i);  // unreachable for events that apply
  };
  switch (e.type) {
    case event_type::pipeline_created:
      j["spec"] = e.spec ? e.spec->to_json() : json(nullptr);
      break;
    case event_type::stage_cancelled:
      j["stage"] = stage_name(e.stage);
      if (e.stage != no_stage) j["run"] = e.run;
      break;
    case event_type::rolled_back: j["to"] = e.to; break;
    default:
      j["stage"] = stage_name(e.stage);
      if (uses_run(e.type)) j["run"] = e.run;
      break;
  }
  switch (e.type) {
    case event_type::stage_completed: j["output"] = e.payload ? *e.payload : json(nullptr); break;
    case event_type::stage_failed: j["error"] = e.text; break;
    case event_type::result_discarded: j["outcome"] = e.text; break;
    case event_type::context_changed: j["context"] = e.payload ? *e.payload : json(nullptr); break;
    case event_type::confirmation_requested: j["message"] = e.text; break;
    case event_type::confirmation_resolved:
      j["approved"] = e.approved;
      j["note"] = e.text;
      break;
    case event_type::rerun_requested: j["rerun"] = stage_name(e.rerun); break;
    default: break;
  }
  return j;
}

result<event> decode_event(const json& j, const pipeline_spec* spec) {
  if (!j.is_object()) return bad("an event must be a JSON object");
  auto field = [&](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  const json* v = field("v");
  if (!v || !v->is_number_integer()) return bad("event has no format version \"v\"");
  if (v->get<std::int64_t>() != event_format_version)
    return bad("event format version " + v->dump() + " is not supported (this build reads version " +
               std::to_string(event_format_version) + ")");
  event e;
  const json* type = field("type");
  if (!type || !type->is_string()) return bad("event has no \"type\"");
  auto t = event_type_from(type->get<std::string>());
  if (!t) return bad("unknown event type '" + type->get<std::string>() + "'");
  e.type = *t;
  const std::string where = "event " + type->get<std::string>();
  auto need_uint = [&](const char* key, std::uint64_t& out) -> std::optional<error> {
    const json* f = field(key);
    if (!f || !f->is_number_unsigned()) return bad(where + ": \"" + key + "\" must be a non-negative integer");
    out = f->get<std::uint64_t>();
    return std::nullopt;
  };
  auto need_string = [&](const char* key, std::string& out) -> std::optional<error> {
    const json* f = field(key);
    if (!f || !f->is_string()) return bad(where + ": \"" + key + "\" must be a string");
    out = f->get<std::string>();
    return std::nullopt;
  };
  if (auto err = need_uint("seq", e.seq)) return *err;
  if (e.seq == 0) return bad(where + ": seq must start at 1");
  std::string at;
  if (auto err = need_string("at", at)) return *err;
  auto at_ms = parse_time(at);
  if (!at_ms) return bad(where + ": \"at\" is not a time like 2026-11-22T04:20:33.123Z");
  e.at_ms = *at_ms;
  if (auto err = need_string("by", e.by)) return *err;
  if (auto err = need_string("pipeline", e.pipeline)) return *err;
  if (e.pipeline.empty()) return bad(where + ": empty pipeline id");

  if (e.type == event_type::pipeline_created) {
    const json* s = field("spec");
    if (!s) return bad(where + ": no \"spec\"");
    auto parsed = parse_spec(*s);
    if (!parsed) return bad(where + ": bad spec: " + parsed.err().message);
    e.spec = std::move(*parsed);
    return e;
  }
  if (e.type == event_type::rolled_back) {
    if (auto err = need_uint("to", e.to)) return *err;
    return e;
  }
  if (!spec) return bad(where + ": no pipeline spec to resolve stage names (is pipeline_created missing?)");
  auto resolve = [&](const char* key, stage_index& out, bool optional) -> std::optional<error> {
    const json* f = field(key);
    if (optional && (!f || f->is_null())) return std::nullopt;
    if (!f || !f->is_string()) return bad(where + ": \"" + key + "\" must be a stage name");
    out = spec->find(f->get<std::string>());
    if (out == no_stage)
      return bad(where + ": unknown stage '" + f->get<std::string>() + "' in pipeline '" + spec->name() + "'");
    return std::nullopt;
  };
  if (auto err = resolve("stage", e.stage, e.type == event_type::stage_cancelled)) return *err;
  if (uses_run(e.type) && !(e.type == event_type::stage_cancelled && e.stage == no_stage))
    if (auto err = need_uint("run", e.run)) return *err;
  auto need_json = [&](const char* key) -> std::optional<error> {
    const json* f = field(key);
    if (!f) return bad(where + ": no \"" + key + "\"");
    e.payload = std::make_shared<const json>(*f);
    return std::nullopt;
  };
  switch (e.type) {
    case event_type::stage_completed:
      if (auto err = need_json("output")) return *err;
      break;
    case event_type::context_changed:
      if (auto err = need_json("context")) return *err;
      break;
    case event_type::stage_failed:
      if (auto err = need_string("error", e.text)) return *err;
      break;
    case event_type::result_discarded:
      if (auto err = need_string("outcome", e.text)) return *err;
      break;
    case event_type::confirmation_requested:
      if (auto err = need_string("message", e.text)) return *err;
      break;
    case event_type::confirmation_resolved: {
      const json* a = field("approved");
      if (!a || !a->is_boolean()) return bad(where + ": \"approved\" must be true or false");
      e.approved = a->get<bool>();
      if (auto err = need_string("note", e.text)) return *err;
      break;
    }
    case event_type::rerun_requested:
      if (auto err = resolve("rerun", e.rerun, false)) return *err;
      break;
    default: break;
  }
  return e;
}

std::string encode_event_text(const event& e, const pipeline_spec* spec) { return encode_event(e, spec).dump(); }

result<event> decode_event_text(std::string_view text, const pipeline_spec* spec) {
  if (text.size() > event_bytes_max)
    return bad("an event of " + std::to_string(text.size()) + " bytes is over the limit of " +
               std::to_string(event_bytes_max));
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("an event is not valid JSON");
  return decode_event(j, spec);
}

bool same_event(const event& a, const event& b) {
  bool same_spec = a.spec == b.spec || (a.spec && b.spec && a.spec->to_json() == b.spec->to_json());
  return a.seq == b.seq && a.at_ms == b.at_ms && a.by == b.by && a.pipeline == b.pipeline && a.type == b.type &&
         a.stage == b.stage && a.run == b.run && same_json(a.payload, b.payload) && a.text == b.text &&
         a.approved == b.approved && a.to == b.to && a.rerun == b.rerun && same_spec;
}

}  // namespace dairector
