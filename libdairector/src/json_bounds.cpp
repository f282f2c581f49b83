#include "dairector/json_bounds.hpp"

#include <algorithm>
#include <vector>

#include "dairector/text_check.hpp"

namespace dairector {

namespace {

error refused(std::string message) { return make_error(errc::decode_failed, std::move(message)); }

std::string depth_text(std::size_t depth_max) {
  return "nests deeper than " + std::to_string(depth_max) + " arrays and objects";
}

// Builds the document as nlohmann's own DOM parser does (its SAX interface,
// driven by its iterative parser), and stops at the first key seen twice in
// one object or the first array or object past the depth bound: nothing
// beyond it is built.
class bounded_builder {
public:
  explicit bounded_builder(std::size_t depth_max) : depth_max_(depth_max) {}

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return put(json(v)); }
  bool string(json::string_t& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t& v) { return put(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    json& object = *open_.back();
    if (object.contains(k)) {
      duplicate_ = k;
      return false;
    }
    member_ = &object[k];
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception& ex) {
    syntax_ = ex.what();
    return false;
  }

  json& root() { return root_; }
  bool too_deep() const { return too_deep_; }
  const std::optional<std::string>& duplicate() const { return duplicate_; }
  const std::string& syntax() const { return syntax_; }
  // Where the object holding the duplicate is: "stages[0].run".
  std::string where() const {
    std::string out;
    for (const auto& s : path_) out += s;
    return out.empty() ? "the top-level object" : out;
  }

private:
  json* place(json&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *open_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    *member_ = std::move(v);
    return member_;
  }
  bool put(json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(json&& v) {
    if (open_.size() >= depth_max_) {
      too_deep_ = true;
      return false;
    }
    // The segment of the path that leads to the new container.
    if (open_.empty()) path_.emplace_back();
    else if (open_.back()->is_array()) path_.push_back("[" + std::to_string(open_.back()->size()) + "]");
    else path_.push_back(path_.size() > 1 ? "." + key_ : key_);
    open_.push_back(place(std::move(v)));
    return true;
  }
  bool close() {
    open_.pop_back();
    path_.pop_back();
    return true;
  }

  const std::size_t depth_max_;
  json root_;
  std::vector<json*> open_;        // the arrays and objects not closed yet, outermost first
  std::vector<std::string> path_;  // how each of them is reached
  json* member_ = nullptr;         // the member of the innermost object whose key was just read
  std::string key_;
  bool too_deep_ = false;
  std::optional<std::string> duplicate_;
  std::string syntax_;
};

// Bytes of a string as dump() writes it (quotes and escapes); sets `bad` on
// text that is not UTF-8 (dump would throw).
std::size_t string_bytes(const std::string& s, bool& bad) {
  std::size_t n = 2;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') n += 2;
    else if (c < 0x20) n += 6;
    else n += 1;
  }
  if (utf8_error_at(s)) bad = true;
  return n;
}

std::size_t digits(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 10) v /= 10, ++n;
  return n;
}

}  // namespace

std::size_t json_text_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0, deepest = 0;
  for (std::size_t at = 0; at < text.size(); ++at) {
    const char c = text[at];
    if (c == '"') {
      for (++at; at < text.size() && text[at] != '"'; ++at)
        if (text[at] == '\\') ++at;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return limit + 1;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

namespace {

// The walk of measure_json; without `count_bytes` it only finds the depth
// (no string is read), which is what decoding our own rows needs.
template <bool count_bytes>
json_extent walk(const json& value, json_limits limits) {
  json_extent out;
  bool bad_utf8 = false;
  struct frame {
    const json* container;
    json::const_iterator next;
  };
  std::vector<frame> open;
  auto visit = [&](const json& v) {
    if (!count_bytes && !v.is_structured()) return;
    switch (v.type()) {
      case json::value_t::object:
      case json::value_t::array:
        out.bytes += 2;
        open.push_back(frame{&v, v.cbegin()});
        out.depth = std::max(out.depth, open.size());
        break;
      case json::value_t::string: out.bytes += string_bytes(v.get_ref<const std::string&>(), bad_utf8); break;
      case json::value_t::boolean: out.bytes += v.get<bool>() ? 4 : 5; break;
      case json::value_t::number_unsigned: out.bytes += digits(v.get<std::uint64_t>()); break;
      case json::value_t::number_integer: {
        const auto i = v.get<std::int64_t>();
        out.bytes += i < 0 ? 1 + digits(0 - static_cast<std::uint64_t>(i)) : digits(static_cast<std::uint64_t>(i));
        break;
      }
      case json::value_t::number_float: out.bytes += 24; break;  // the longest: -1.2345678901234567e-308
      case json::value_t::binary: out.bytes += 32 + 4 * v.get_binary().size(); break;
      default: out.bytes += 4; break;  // null, discarded
    }
  };
  auto over = [&] { return out.depth > limits.depth_max || out.bytes > limits.bytes_max || bad_utf8; };
  visit(value);
  while (!open.empty() && !over()) {
    frame& f = open.back();
    if (f.next == f.container->cend()) {
      open.pop_back();
      continue;
    }
    if (count_bytes && f.next != f.container->cbegin()) out.bytes += 1;                     // ,
    if (count_bytes && f.container->is_object()) out.bytes += string_bytes(f.next.key(), bad_utf8) + 1;  // "key":
    const json& child = *f.next;
    ++f.next;
    visit(child);  // may grow `open`: `f` is not used after this
  }
  // Text that is not UTF-8 cannot be written at all: say so through the
  // bytes, which no limit admits.
  if (bad_utf8) out.bytes = SIZE_MAX;
  return out;
}

}  // namespace

json_extent measure_json(const json& value, json_limits limits) { return walk<true>(value, limits); }

std::size_t json_depth(const json& value, std::size_t limit) {
  return walk<false>(value, json_limits{limit, SIZE_MAX}).depth;
}

std::optional<std::string> value_refusal(const json& value, std::string_view what) {
  const json_extent e = measure_json(value, value_limits);
  if (e.depth > json_value_depth_max)
    return std::string(what) + " " + depth_text(json_value_depth_max);
  if (e.bytes == SIZE_MAX) return std::string(what) + " holds a string that is not valid UTF-8";
  if (e.bytes > json_value_bytes_max)
    return std::string(what) + " is larger than " + bytes_text(json_value_bytes_max) + " as JSON";
  return std::nullopt;
}

result<json> parse_json(std::string_view text, std::string_view what, json_limits limits, json_fault* fault) {
  auto fail = [&](json_fault f, std::string sentence) {
    if (fault) *fault = f;
    return refused(std::string(what) + " " + sentence);
  };
  if (text.size() > limits.bytes_max)
    return fail(json_fault::too_large, "is larger than " + bytes_text(limits.bytes_max) + " (" +
                                           std::to_string(text.size()) + " bytes)");
  bounded_builder builder(limits.depth_max);
  if (json::sax_parse(text.begin(), text.end(), &builder)) return std::move(builder.root());
  if (builder.too_deep()) return fail(json_fault::too_deep, depth_text(limits.depth_max));
  if (builder.duplicate())
    return fail(json_fault::duplicate_key, "has the key \"" + *builder.duplicate() + "\" twice in " + builder.where());
  return fail(json_fault::not_json, "is not valid JSON: " + builder.syntax());
}

std::string bytes_text(std::size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace dairector
