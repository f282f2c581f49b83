#include "dairector/codec.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "dairector/json_bounds.hpp"
#include "dairector/state.hpp"

namespace dairector {

// ---------------------------------------------------------------- names

namespace {
// Frozen: the index is the enum value; names are written to disk.
// The one table of names: to_string and event_type_from read it, and its
// size is checked against the enum's last value.
constexpr auto event_names = std::to_array<const char*>({
    "pipeline_created",  "stage_started",    "stage_completed",        "stage_failed",
    "stage_cancelled",   "stage_interrupted", "result_discarded",      "context_changed",
    "confirmation_requested", "confirmation_resolved", "rolled_back", "rerun_requested",
    "retry_scheduled", "retry_requested",
});
static_assert(event_names.size() == static_cast<std::size_t>(event_type_count), "one name per event type");
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
  if (y >= 0 && y <= 9999) {
    // The common case without snprintf (encoding every event writes one).
    char t[] = "0000-00-00T00:00:00.000Z";
    auto digits = [&](std::size_t at, std::size_t len, std::int64_t v) {
      for (std::size_t k = at + len; k-- > at; v /= 10) t[k] = static_cast<char>('0' + v % 10);
    };
    digits(0, 4, y);
    digits(5, 2, m);
    digits(8, 2, d);
    digits(11, 2, rest / 3'600'000);
    digits(14, 2, rest / 60'000 % 60);
    digits(17, 2, rest / 1000 % 60);
    digits(20, 3, rest % 1000);
    return std::string(t, sizeof t - 1);
  }
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
    case event_type::result_discarded:
    case event_type::retry_scheduled: return true;
    case event_type::pipeline_created:
    case event_type::context_changed:
    case event_type::confirmation_requested:
    case event_type::confirmation_resolved:
    case event_type::rolled_back:
    case event_type::rerun_requested:
    case event_type::retry_requested: return false;
  }
  return false;
}

error bad(std::string message) { return make_error(errc::decode_failed, std::move(message)); }

// The fields an encoded event may have, in the byte order of their names:
// the order in which nlohmann's json (a std::map) writes an object's keys,
// so the direct encoder and the canonical-text decoder below walk them in
// the order they are on disk.
enum class field : std::uint8_t {
  approved, at, by, context, delay_ms, error, input, message, note, outcome, output, pipeline, rerun, run, seed, seq,
  spec, stage, to, type, v,
};
constexpr std::size_t field_count = 21;
constexpr std::array<std::string_view, field_count> field_names = {
    "approved", "at", "by", "context", "delay_ms", "error", "input", "message", "note", "outcome", "output",
    "pipeline", "rerun",    "run", "seed", "seq", "spec", "stage", "to", "type", "v",
};
static_assert(std::is_sorted(field_names.begin(), field_names.end()), "the names must be in byte order");

constexpr std::uint32_t bit(field f) { return 1u << static_cast<unsigned>(f); }

// Which fields `e` is written with (docs/events.md; encode_event is the
// reference and both must agree).
std::uint32_t fields_of(const event& e) {
  std::uint32_t f = bit(field::v) | bit(field::seq) | bit(field::at) | bit(field::by) | bit(field::pipeline) |
                    bit(field::type);
  const std::uint32_t staged = bit(field::stage) | (uses_run(e.type) ? bit(field::run) : 0);
  switch (e.type) {
    // A seed of 0 and no input are not written: journals from before them read back the same.
    case event_type::pipeline_created:
      return f | bit(field::spec) | (e.seed != 0 ? bit(field::seed) : 0) | (e.payload ? bit(field::input) : 0);
    case event_type::stage_cancelled: return f | bit(field::stage) | (e.stage != no_stage ? bit(field::run) : 0);
    case event_type::rolled_back: return f | bit(field::to);
    case event_type::stage_completed: return f | staged | bit(field::output);
    case event_type::stage_failed: return f | staged | bit(field::error);
    case event_type::result_discarded: return f | staged | bit(field::outcome);
    case event_type::context_changed: return f | staged | bit(field::context);
    case event_type::confirmation_requested: return f | staged | bit(field::message);
    case event_type::confirmation_resolved: return f | staged | bit(field::approved) | bit(field::note);
    case event_type::rerun_requested: return f | staged | bit(field::rerun);
    case event_type::retry_scheduled: return f | staged | bit(field::delay_ms);
    case event_type::stage_started:
    case event_type::stage_interrupted:
    case event_type::retry_requested: return f | staged;
  }
  return f;
}

// The name of stage `i` as written: null for no stage, "#i" for an index the
// spec does not have (unreachable for events that apply).
json stage_json(const pipeline_spec* names, stage_index i) {
  if (i == no_stage) return nullptr;
  if (names && i < names->size()) return (*names)[i].name;
  return "#" + std::to_string(i);
}

const pipeline_spec* names_for(const event& e, const pipeline_spec* spec) {
  return e.type == event_type::pipeline_created ? e.spec.get() : spec;
}

// ------------------------------------------------ writing text directly

// A JSON string exactly as json::dump writes it. Printable ASCII without a
// quote or backslash (ids, names, times, most messages) is copied; anything
// else goes through dump itself, which escapes it and refuses invalid UTF-8
// (by throwing, as encoding a json document would).
void put_string(std::string& out, std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
      out += json(s).dump();
      return;
    }
  }
  out += '"';
  out += s;
  out += '"';
}

void put_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

void put_stage(std::string& out, const pipeline_spec* names, stage_index i) {
  if (i != no_stage && names && i < names->size())
    put_string(out, (*names)[i].name);
  else
    out += stage_json(names, i).dump();
}

void put_json(std::string& out, const std::shared_ptr<const json>& j) { out += j ? j->dump() : "null"; }

void put_field(std::string& out, field f, const event& e, const pipeline_spec* names) {
  switch (f) {
    case field::approved: out += e.approved ? "true" : "false"; break;
    case field::at: out += '"'; out += format_time(e.at_ms); out += '"'; break;
    case field::by: put_string(out, e.by); break;
    case field::context:
    case field::input:
    case field::output: put_json(out, e.payload); break;
    case field::delay_ms: put_uint(out, e.delay_ms); break;
    case field::seed: put_uint(out, e.seed); break;
    case field::error:
    case field::message:
    case field::note:
    case field::outcome: put_string(out, e.text); break;
    case field::pipeline: put_string(out, e.pipeline); break;
    case field::rerun: put_stage(out, names, e.rerun); break;
    case field::run: put_uint(out, e.run); break;
    case field::seq: put_uint(out, e.seq); break;
    case field::spec: out += e.spec ? e.spec->to_json().dump() : "null"; break;
    case field::stage: put_stage(out, names, e.stage); break;
    case field::to: put_uint(out, e.to); break;
    case field::type: out += '"'; out += to_string(e.type); out += '"'; break;
    case field::v: put_uint(out, event_format_version); break;
  }
}

// ------------------------------------------------ reading fields

// Decoding asks its fields through one of two readers with the same
// interface: `dom_fields` over a parsed json document (any valid JSON), and
// `text_fields` straight over the text when it is in the canonical form the
// encoder writes. Every answer of "missing or of another kind" is nullopt.
class dom_fields {
public:
  explicit dom_fields(const json& j) : j_(j) {}
  bool is_object() const { return j_.is_object(); }
  const json* get(field f) const {
    auto it = j_.find(field_names[static_cast<std::size_t>(f)]);
    return it == j_.end() ? nullptr : &*it;
  }
  bool has(field f) const { return get(f) != nullptr; }
  bool absent_or_null(field f) const {
    const json* x = get(f);
    return !x || x->is_null();
  }
  std::optional<std::string_view> string(field f) const {
    const json* x = get(f);
    if (!x || !x->is_string()) return std::nullopt;
    return std::string_view(x->get_ref<const std::string&>());
  }
  std::optional<std::uint64_t> uint(field f) const {
    const json* x = get(f);
    if (!x || !x->is_number_unsigned()) return std::nullopt;
    return x->get<std::uint64_t>();
  }
  std::optional<bool> boolean(field f) const {
    const json* x = get(f);
    if (!x || !x->is_boolean()) return std::nullopt;
    return x->get<bool>();
  }
  // The format version: nullopt unless an integer; `shown` is how the
  // document writes it.
  std::optional<std::int64_t> version() const {
    const json* x = get(field::v);
    if (!x || !x->is_number_integer()) return std::nullopt;
    return x->get<std::int64_t>();
  }
  std::string shown(field f) const { return get(f)->dump(); }
  std::shared_ptr<const json> value(field f) const {
    const json* x = get(f);
    return x ? std::make_shared<const json>(*x) : nullptr;
  }
  // How deeply the field's value nests (the walk stops past the bound).
  std::size_t depth(field f) const {
    const json* x = get(f);
    return x ? json_depth(*x, json_value_depth_max) : 0;
  }

private:
  const json& j_;
};

// The canonical text: an object with no whitespace, keys among field_names in
// their byte order (so no duplicates), strings of printable ASCII without
// escapes, non-negative integers, true/false/null, and JSON values for
// context, output and spec (parsed by nlohmann) that nest within the event's
// bound, json_depth_max. `ok()` is false for anything else; the caller then
// parses the whole text with nlohmann, after the same bound.
class text_fields {
public:
  explicit text_fields(std::string_view text) : t_(text) { ok_ = scan(); }
  bool ok() const { return ok_; }
  bool is_object() const { return true; }
  bool has(field f) const { return kind(f) != kind_absent; }
  bool absent_or_null(field f) const { return kind(f) == kind_absent || kind(f) == kind_null; }
  std::optional<std::string_view> string(field f) const {
    if (kind(f) != kind_string) return std::nullopt;
    return text(f);
  }
  std::optional<std::uint64_t> uint(field f) const {
    if (kind(f) != kind_uint) return std::nullopt;
    return number_[static_cast<std::size_t>(f)];
  }
  std::optional<bool> boolean(field f) const {
    if (kind(f) != kind_true && kind(f) != kind_false) return std::nullopt;
    return kind(f) == kind_true;
  }
  std::optional<std::int64_t> version() const {
    auto v = uint(field::v);
    if (!v || *v > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(*v);
  }
  std::string shown(field f) const { return std::string(text(f)); }
  std::size_t depth(field f) const { return depth_[static_cast<std::size_t>(f)]; }
  std::shared_ptr<const json> value(field f) const {
    if (!has(f)) return nullptr;
    const std::string_view v = text(f);
    // The output of a handler with nothing to say, shared (values are immutable).
    static const auto empty_object = std::make_shared<const json>(json::object());
    if (v == "{}") return empty_object;
    json j = json::parse(v.begin(), v.end(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return nullptr;
    return std::make_shared<const json>(std::move(j));
  }

private:
  enum kind_t : std::uint8_t { kind_absent, kind_string, kind_uint, kind_true, kind_false, kind_null, kind_value };

  kind_t kind(field f) const { return kind_[static_cast<std::size_t>(f)]; }
  std::string_view text(field f) const {
    const auto i = static_cast<std::size_t>(f);
    return t_.substr(from_[i], to_[i] - from_[i]);
  }
  static bool holds_json(field f) {
    return f == field::context || f == field::input || f == field::output || f == field::spec;
  }

  bool scan() {
    std::size_t at = 0;
    auto next = [&](char c) {
      if (at >= t_.size() || t_[at] != c) return false;
      ++at;
      return true;
    };
    if (!next('{')) return false;
    int last = -1;
    do {
      std::size_t key_from = at;
      if (!plain_string(at)) return false;
      const std::string_view key = t_.substr(key_from + 1, at - key_from - 2);
      // Keys come in field_names' order: look only past the previous one.
      int index = last + 1;
      while (index < static_cast<int>(field_count) && field_names[static_cast<std::size_t>(index)] != key) ++index;
      if (index == static_cast<int>(field_count)) return false;
      last = index;
      if (!next(':')) return false;
      if (!value(static_cast<field>(index), at)) return false;
    } while (next(','));
    return next('}') && at == t_.size();
  }

  // A string of printable ASCII without escapes, from its opening quote.
  bool plain_string(std::size_t& at) const {
    if (at >= t_.size() || t_[at] != '"') return false;
    for (std::size_t k = at + 1; k < t_.size(); ++k) {
      const auto c = static_cast<unsigned char>(t_[k]);
      if (c == '"') {
        at = k + 1;
        return true;
      }
      if (c < 0x20 || c == '\\' || c >= 0x80) return false;
    }
    return false;
  }

  bool value(field f, std::size_t& at) {
    if (at >= t_.size()) return false;
    const auto i = static_cast<std::size_t>(f);
    from_[i] = at;
    if (holds_json(f)) {
      if (!skip_value(at, depth_[i])) return false;
      kind_[i] = kind_value;
    } else if (t_[at] == '"') {
      if (!plain_string(at)) return false;
      kind_[i] = kind_string;
      from_[i] += 1;
      to_[i] = at - 1;
      return true;
    } else if (t_[at] >= '0' && t_[at] <= '9') {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(t_.data() + at, t_.data() + t_.size(), n);
      if (ec != std::errc()) return false;
      at = static_cast<std::size_t>(end - t_.data());
      if ((t_[from_[i]] == '0' && at - from_[i] > 1) ||
          (at < t_.size() && (t_[at] == '.' || t_[at] == 'e' || t_[at] == 'E')))
        return false;  // not an integer as JSON writes one
      kind_[i] = kind_uint;
      number_[i] = n;
    } else if (t_.substr(at, 4) == "true") {
      at += 4, kind_[i] = kind_true;
    } else if (t_.substr(at, 5) == "false") {
      at += 5, kind_[i] = kind_false;
    } else if (t_.substr(at, 4) == "null") {
      at += 4, kind_[i] = kind_null;
    } else {
      return false;
    }
    to_[i] = at;
    return true;
  }

  // Past one JSON value (validated later by nlohmann, which parses exactly
  // this slice): strings skipped with their escapes, brackets counted, and
  // the deepest nesting kept (false past the event's bound, which is one
  // level above its fields').
  bool skip_value(std::size_t& at, std::size_t& deepest) const {
    std::size_t depth = 0;
    deepest = 0;
    for (; at < t_.size(); ++at) {
      const char c = t_[at];
      if (c == '"') {
        for (++at; at < t_.size() && t_[at] != '"'; ++at)
          if (t_[at] == '\\') ++at;
        if (at >= t_.size()) return false;
      } else if (c == '{' || c == '[') {
        deepest = std::max(deepest, ++depth);
        if (deepest >= json_depth_max) return false;
      } else if (c == '}' || c == ']') {
        if (depth == 0) return true;  // the end of the event
        if (--depth == 0) {
          ++at;
          return true;
        }
      } else if (c == ',' && depth == 0) {
        return true;
      }
    }
    return false;
  }

  std::string_view t_;
  bool ok_ = false;
  std::array<kind_t, field_count> kind_{};
  std::array<std::size_t, field_count> from_{}, to_{};
  std::array<std::uint64_t, field_count> number_{};
  std::array<std::size_t, field_count> depth_{};
};

template <class Fields>
result<event> decode_fields(const Fields& j, const pipeline_spec* spec) {
  if (!j.is_object()) return bad("an event must be a JSON object");
  if (!j.has(field::v) || !j.version()) return bad("event has no format version \"v\"");
  if (*j.version() != event_format_version)
    return bad("event format version " + j.shown(field::v) + " is not supported (this build reads version " +
               std::to_string(event_format_version) + ")");
  event e;
  const auto type = j.string(field::type);
  if (!type) return bad("event has no \"type\"");
  auto t = event_type_from(*type);
  if (!t) return bad("unknown event type '" + std::string(*type) + "'");
  e.type = *t;
  auto where = [&] { return "event " + std::string(*type); };
  auto key = [](field f) { return std::string(field_names[static_cast<std::size_t>(f)]); };
  auto need_uint = [&](field f, std::uint64_t& out) -> std::optional<error> {
    auto x = j.uint(f);
    if (!x) return bad(where() + ": \"" + key(f) + "\" must be a non-negative integer");
    out = *x;
    return std::nullopt;
  };
  auto need_string = [&](field f, std::string& out) -> std::optional<error> {
    auto x = j.string(f);
    if (!x) return bad(where() + ": \"" + key(f) + "\" must be a string");
    out.assign(x->data(), x->size());
    return std::nullopt;
  };
  if (auto err = need_uint(field::seq, e.seq)) return *err;
  if (e.seq == 0) return bad(where() + ": seq must start at 1");
  const auto at = j.string(field::at);
  if (!at) return bad(where() + ": \"at\" must be a string");
  auto at_ms = parse_time(*at);
  if (!at_ms) return bad(where() + ": \"at\" is not a time like 2026-11-22T04:20:33.123Z");
  e.at_ms = *at_ms;
  if (auto err = need_string(field::by, e.by)) return *err;
  if (auto err = need_string(field::pipeline, e.pipeline)) return *err;
  if (e.pipeline.empty()) return bad(where() + ": empty pipeline id");

  auto need_json = [&](field f) -> std::optional<error> {
    // A value deeper than any we admit would make the documents that wrap
    // it (a status answer, the next stage's input) fail to be read back.
    if (j.has(f) && j.depth(f) > json_value_depth_max)
      return bad(where() + ": \"" + key(f) + "\" nests deeper than " + std::to_string(json_value_depth_max) +
                 " arrays and objects");
    e.payload = j.value(f);
    if (!e.payload) return bad(where() + ": no \"" + key(f) + "\"");
    return std::nullopt;
  };
  if (e.type == event_type::pipeline_created) {
    if (!j.has(field::spec)) return bad(where() + ": no \"spec\"");
    auto s = j.value(field::spec);
    if (!s) return bad(where() + ": bad spec: not valid JSON");
    auto parsed = parse_spec(*s, spec_source::journal);
    if (!parsed) return bad(where() + ": bad spec: " + parsed.err().message);
    e.spec = std::move(*parsed);
    if (j.has(field::seed))
      if (auto err = need_uint(field::seed, e.seed)) return *err;
    if (!j.absent_or_null(field::input))
      if (auto err = need_json(field::input)) return *err;
    return e;
  }
  if (e.type == event_type::rolled_back) {
    if (auto err = need_uint(field::to, e.to)) return *err;
    return e;
  }
  if (!spec) return bad(where() + ": no pipeline spec to resolve stage names (is pipeline_created missing?)");
  auto resolve = [&](field f, stage_index& out, bool optional) -> std::optional<error> {
    if (optional && j.absent_or_null(f)) return std::nullopt;
    auto name = j.string(f);
    if (!name) return bad(where() + ": \"" + key(f) + "\" must be a stage name");
    out = spec->find(*name);
    if (out == no_stage)
      return bad(where() + ": unknown stage '" + std::string(*name) + "' in pipeline '" + spec->name() + "'");
    return std::nullopt;
  };
  if (auto err = resolve(field::stage, e.stage, e.type == event_type::stage_cancelled)) return *err;
  if (uses_run(e.type) && !(e.type == event_type::stage_cancelled && e.stage == no_stage))
    if (auto err = need_uint(field::run, e.run)) return *err;
  switch (e.type) {
    case event_type::stage_completed:
      if (auto err = need_json(field::output)) return *err;
      break;
    case event_type::context_changed:
      if (auto err = need_json(field::context)) return *err;
      break;
    case event_type::stage_failed:
      if (auto err = need_string(field::error, e.text)) return *err;
      break;
    case event_type::result_discarded:
      if (auto err = need_string(field::outcome, e.text)) return *err;
      break;
    case event_type::confirmation_requested:
      if (auto err = need_string(field::message, e.text)) return *err;
      break;
    case event_type::confirmation_resolved: {
      auto a = j.boolean(field::approved);
      if (!a) return bad(where() + ": \"approved\" must be true or false");
      e.approved = *a;
      if (auto err = need_string(field::note, e.text)) return *err;
      break;
    }
    case event_type::rerun_requested:
      if (auto err = resolve(field::rerun, e.rerun, false)) return *err;
      break;
    case event_type::retry_scheduled:
      if (auto err = need_uint(field::delay_ms, e.delay_ms)) return *err;
      break;
    case event_type::pipeline_created:
    case event_type::stage_started:
    case event_type::stage_cancelled:
    case event_type::stage_interrupted:
    case event_type::rolled_back:
    case event_type::retry_requested: break;
  }
  return e;
}

}  // namespace

json encode_event(const event& e, const pipeline_spec* spec) {
  json j = {{"v", event_format_version}, {"seq", e.seq},       {"at", format_time(e.at_ms)},
            {"by", e.by},                {"pipeline", e.pipeline}, {"type", to_string(e.type)}};
  const pipeline_spec* names = names_for(e, spec);
  const std::uint32_t fields = fields_of(e);
  auto has = [&](field f) { return (fields & bit(f)) != 0; };
  if (has(field::spec)) j["spec"] = e.spec ? e.spec->to_json() : json(nullptr);
  if (has(field::stage)) j["stage"] = stage_json(names, e.stage);
  if (has(field::run)) j["run"] = e.run;
  if (has(field::to)) j["to"] = e.to;
  for (field f : {field::output, field::context, field::input})
    if (has(f)) j[field_names[static_cast<std::size_t>(f)]] = e.payload ? *e.payload : json(nullptr);
  for (field f : {field::error, field::outcome, field::message, field::note})
    if (has(f)) j[field_names[static_cast<std::size_t>(f)]] = e.text;
  if (has(field::approved)) j["approved"] = e.approved;
  if (has(field::rerun)) j["rerun"] = stage_json(names, e.rerun);
  if (has(field::seed)) j["seed"] = e.seed;
  if (has(field::delay_ms)) j["delay_ms"] = e.delay_ms;
  return j;
}

result<event> decode_event(const json& j, const pipeline_spec* spec) {
  // Decoding copies values, which recurses: a document from elsewhere (a
  // server's history) is bounded first.
  if (json_depth(j) > json_depth_max)
    return bad("an event nests deeper than " + std::to_string(json_depth_max) + " arrays and objects");
  return decode_fields(dom_fields(j), spec);
}

std::string encode_event_text(const event& e, const pipeline_spec* spec) {
  // The bytes of encode_event(e, spec).dump(), without building the document
  // (the frozen format: tests/journal compare the two on every event type).
  const pipeline_spec* names = names_for(e, spec);
  const std::uint32_t fields = fields_of(e);
  std::string out;
  out.reserve(160);
  char sep = '{';
  for (std::size_t k = 0; k < field_count; ++k) {
    if ((fields & (1u << k)) == 0) continue;
    out += sep;
    sep = ',';
    out += '"';
    out += field_names[k];
    out += "\":";
    put_field(out, static_cast<field>(k), e, names);
  }
  out += '}';
  return out;
}

result<event> decode_event_text(std::string_view text, const pipeline_spec* spec) {
  if (text.size() > event_bytes_max)
    return bad("an event of " + std::to_string(text.size()) + " bytes is over the limit of " +
               std::to_string(event_bytes_max));
  // The text as the encoder writes it is read directly; anything else (other
  // spacing or key order, escapes, an error to name) by the full parser, so
  // both give the same event or the same error.
  if (text_fields fast(text); fast.ok()) {
    auto e = decode_fields(fast, spec);
    if (e) return e;
  }
  // nlohmann parses without recursion, but copying and printing the result
  // recurse: the depth is bounded first. (Keys given twice are left to the
  // CRC of the row: these are our own rows, and the fast path never sees one.)
  if (json_text_depth(text) > json_depth_max)
    return bad("an event nests deeper than " + std::to_string(json_depth_max) + " arrays and objects");
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return bad("an event is not valid JSON");
  return decode_fields(dom_fields(j), spec);
}

bool same_event(const event& a, const event& b) {
  bool same_spec = a.spec == b.spec || (a.spec && b.spec && a.spec->to_json() == b.spec->to_json());
  return a.seq == b.seq && a.at_ms == b.at_ms && a.by == b.by && a.pipeline == b.pipeline && a.type == b.type &&
         a.stage == b.stage && a.run == b.run && same_json(a.payload, b.payload) && a.text == b.text &&
         a.approved == b.approved && a.to == b.to && a.rerun == b.rerun && a.seed == b.seed && a.delay_ms == b.delay_ms && same_spec;
}

}  // namespace dairector
