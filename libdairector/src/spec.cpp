#include "dairector/spec.hpp"

#include <algorithm>
#include <queue>
#include <set>

#include "dairector/file_read.hpp"
#include "dairector/json_bounds.hpp"
#include "dairector/text_check.hpp"

namespace dairector {

namespace {

error spec_error(std::string message) { return make_error(errc::spec_invalid, std::move(message)); }

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

// Refuses keys the format does not know: a misspelt "aftr" must not be ignored.
std::optional<error> check_keys(const json& obj, std::initializer_list<std::string_view> known,
                                const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    bool found = false;
    for (auto k : known) found = found || key == k;
    if (!found) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return spec_error(where + ": unknown field " + q(key) + " (known: " + list + ")");
    }
  }
  return std::nullopt;
}

bool is_count(const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0); }

result<run_spec> parse_run(const json& run, const std::string& where) {
  if (!run.is_object())
    return spec_error(where + ": 'run' must be an object with \"command\", \"builtin\" or \"handler\"");
  int kinds = int(run.contains("command")) + int(run.contains("builtin")) + int(run.contains("handler"));
  if (kinds != 1)
    return spec_error(where + ": 'run' must have exactly one of \"command\", \"builtin\", \"handler\"");
  run_spec out;
  if (run.contains("command")) {
    if (auto e = check_keys(run, {"command", "timeout_s", "env", "retry"}, where + ": run")) return *e;
    const json& argv = run["command"];
    if (!argv.is_array() || argv.empty())
      return spec_error(where + ": run.command must be a non-empty array of strings");
    for (const auto& a : argv) {
      if (!a.is_string()) return spec_error(where + ": run.command must be a non-empty array of strings");
      out.argv.push_back(a.get<std::string>());
    }
    if (out.argv[0].empty()) return spec_error(where + ": run.command[0] (the program) is empty");
    out.what = run_spec::kind::command;
    if (run.contains("timeout_s")) {
      const json& t = run["timeout_s"];
      if (!is_count(t) || t.get<std::uint64_t>() == 0 || t.get<std::uint64_t>() > run_timeout_s_max)
        return spec_error(where + ": run.timeout_s must be an integer from 1 to " +
                          std::to_string(run_timeout_s_max));
      out.timeout_s = t.get<std::uint32_t>();
    }
    if (run.contains("env")) {
      const json& env = run["env"];
      if (!env.is_object()) return spec_error(where + ": run.env must be an object of strings");
      for (const auto& [k, v] : env.items()) {
        if (k.empty() || k.find('=') != std::string::npos)
          return spec_error(where + ": run.env has a bad variable name " + q(k));
        if (!v.is_string()) return spec_error(where + ": run.env." + k + " must be a string");
        out.env[k] = v.get<std::string>();
      }
    }
    return out;
  }
  if (run.contains("handler")) {
    if (auto e = check_keys(run, {"handler", "retry"}, where + ": run")) return *e;
    if (!run["handler"].is_string() || !is_valid_name(run["handler"].get<std::string>()))
      return spec_error(where + ": run.handler must be a name like [a-z][a-z0-9_-]*");
    out.what = run_spec::kind::handler;
    out.handler = run["handler"].get<std::string>();
    return out;
  }
  const json& b = run["builtin"];
  std::string name = b.is_string() ? b.get<std::string>() : std::string();
  if (name == "echo") {
    if (auto e = check_keys(run, {"builtin", "retry"}, where + ": run")) return *e;
    out.what = run_spec::kind::echo;
  } else if (name == "sleep") {
    if (auto e = check_keys(run, {"builtin", "ms", "retry"}, where + ": run")) return *e;
    if (!run.contains("ms") || !is_count(run["ms"]) || run["ms"].get<std::uint64_t>() > sleep_ms_max)
      return spec_error(where + ": builtin 'sleep' needs \"ms\", an integer from 0 to " +
                        std::to_string(sleep_ms_max));
    out.what = run_spec::kind::sleep;
    out.ms = run["ms"].get<std::uint64_t>();
  } else if (name == "fail") {
    if (auto e = check_keys(run, {"builtin", "times", "retry"}, where + ": run")) return *e;
    if (!run.contains("times") || !is_count(run["times"]) ||
        run["times"].get<std::uint64_t>() > on_failure_attempts_max * 1000ull)
      return spec_error(where + ": builtin 'fail' needs \"times\", a non-negative integer");
    out.what = run_spec::kind::fail;
    out.times = run["times"].get<std::uint32_t>();
  } else {
    return spec_error(where + ": unknown builtin " + (b.is_string() ? q(name) : b.dump()) +
                      " (known: echo, sleep, fail)");
  }
  return out;
}

// run.retry: {"max_attempts": N, "backoff_ms": B, "backoff_max_ms": M}.
result<retry_spec> parse_retry(const json& r, const std::string& where) {
  if (!r.is_object()) return spec_error(where + ": run.retry must be an object");
  if (auto e = check_keys(r, {"max_attempts", "backoff_ms", "backoff_max_ms"}, where + ": run.retry")) return *e;
  retry_spec out;
  if (!r.contains("max_attempts") || !is_count(r["max_attempts"]) || r["max_attempts"].get<std::uint64_t>() < 1 ||
      r["max_attempts"].get<std::uint64_t>() > retry_attempts_max)
    return spec_error(where + ": run.retry.max_attempts must be an integer from 1 to " +
                      std::to_string(retry_attempts_max) + " (the runs in all, the first included)");
  out.max_attempts = r["max_attempts"].get<std::uint32_t>();
  auto ms = [&](const char* key, std::uint64_t& value) -> std::optional<error> {
    if (!r.contains(key)) return std::nullopt;
    if (!is_count(r[key]) || r[key].get<std::uint64_t>() > retry_backoff_ms_max)
      return spec_error(where + ": run.retry." + key + " must be an integer from 0 to " +
                        std::to_string(retry_backoff_ms_max) + " (milliseconds)");
    value = r[key].get<std::uint64_t>();
    return std::nullopt;
  };
  if (auto e = ms("backoff_ms", out.backoff_ms)) return *e;
  if (!r.contains("backoff_max_ms")) out.backoff_max_ms = std::max(out.backoff_ms, retry_backoff_max_ms_default);
  if (auto e = ms("backoff_max_ms", out.backoff_max_ms)) return *e;
  if (out.backoff_max_ms < out.backoff_ms)
    return spec_error(where + ": run.retry.backoff_max_ms (" + std::to_string(out.backoff_max_ms) +
                      ") is less than run.retry.backoff_ms (" + std::to_string(out.backoff_ms) + ")");
  return out;
}

json run_to_json(const run_spec& r) {
  switch (r.what) {
    case run_spec::kind::echo: return {{"builtin", "echo"}};
    case run_spec::kind::sleep: return {{"builtin", "sleep"}, {"ms", r.ms}};
    case run_spec::kind::fail: return {{"builtin", "fail"}, {"times", r.times}};
    case run_spec::kind::handler: return {{"handler", r.handler}};
    case run_spec::kind::command: {
      json out = {{"command", r.argv}, {"timeout_s", r.timeout_s}};
      if (!r.env.empty()) out["env"] = r.env;
      return out;
    }
  }
  return nullptr;
}

// What a stage looks like before it has a topological index.
struct raw_stage {
  std::string name;
  std::vector<std::string> after;
  run_spec run;
  std::optional<retry_spec> retry;
  std::optional<std::string> confirm;
  std::optional<std::string> rerun;
  std::uint32_t max_attempts = 0;
};

std::vector<stage_index> to_list(const stage_set& set, std::size_t n) {
  std::vector<stage_index> out;
  for (stage_index i = 0; i < n; ++i)
    if (set.contains(i)) out.push_back(i);
  return out;
}

}  // namespace

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > stage_name_length_max) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

stage_index pipeline_spec::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? no_stage : it->second;
}

result<std::shared_ptr<const pipeline_spec>> parse_spec(const json& doc, spec_source source) {
  if (!doc.is_object()) return spec_error("spec: the top level must be a JSON object");
  if (auto e = check_keys(doc, {"name", "stages"}, "spec")) return *e;
  if (!doc.contains("name") || !doc["name"].is_string())
    return spec_error("spec: \"name\" is missing or not a string");
  std::string pname = doc["name"].get<std::string>();
  if (!is_valid_name(pname))
    return spec_error("spec: pipeline name " + q(pname) + " is not a valid name ([a-z][a-z0-9_-]{0,63})");
  if (!doc.contains("stages") || !doc["stages"].is_array())
    return spec_error("spec: \"stages\" is missing or not an array");
  const json& stages = doc["stages"];
  if (stages.empty()) return spec_error("spec: no stages (\"stages\" is empty)");
  if (stages.size() > stage_count_max)
    return spec_error("spec: " + std::to_string(stages.size()) + " stages, more than the limit of " +
                      std::to_string(stage_count_max));

  // Pass 1: each stage on its own.
  std::vector<raw_stage> raw;
  std::map<std::string, std::size_t, std::less<>> file_index;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const json& s = stages[i];
    std::string where = "stage #" + std::to_string(i + 1);
    if (!s.is_object()) return spec_error(where + ": must be an object");
    if (!s.contains("name") || !s["name"].is_string())
      return spec_error(where + ": \"name\" is missing or not a string");
    raw_stage r;
    r.name = s["name"].get<std::string>();
    if (!is_valid_name(r.name))
      return spec_error(where + ": bad name " + q(r.name) + " (must match [a-z][a-z0-9_-]{0,63})");
    where = "stage " + q(r.name);
    if (file_index.count(r.name)) return spec_error(where + ": duplicate stage name");
    file_index[r.name] = i;
    if (auto e = check_keys(s, {"name", "after", "run", "confirm", "on_failure"}, where)) return *e;
    if (s.contains("after")) {
      if (!s["after"].is_array()) return spec_error(where + ": \"after\" must be an array of stage names");
      std::set<std::string> seen;
      for (const auto& a : s["after"]) {
        if (!a.is_string()) return spec_error(where + ": \"after\" must be an array of stage names");
        std::string up = a.get<std::string>();
        if (up == r.name) return spec_error(where + ": lists itself in \"after\"");
        if (!seen.insert(up).second) return spec_error(where + ": lists " + q(up) + " twice in \"after\"");
        r.after.push_back(up);
      }
    }
    if (!s.contains("run")) return spec_error(where + ": \"run\" is missing");
    auto run = parse_run(s["run"], where);
    if (!run) return run.err();
    r.run = std::move(*run);
    if (s["run"].contains("retry")) {
      auto retry = parse_retry(s["run"]["retry"], where);
      if (!retry) return retry.err();
      r.retry = *retry;
    }
    if (s.contains("confirm")) {
      if (!s["confirm"].is_string() || s["confirm"].get<std::string>().empty())
        return spec_error(where + ": \"confirm\" must be a non-empty message");
      r.confirm = s["confirm"].get<std::string>();
      // Printed on a terminal and written to the journal: one plain line.
      if (auto why = control_refusal(*r.confirm); why && source == spec_source::outside)
        return spec_error(where + ": \"confirm\" " + *why);
    }
    if (s.contains("on_failure")) {
      const json& f = s["on_failure"];
      if (!f.is_object()) return spec_error(where + ": \"on_failure\" must be an object");
      if (auto e = check_keys(f, {"rerun", "max_attempts"}, where + ": on_failure")) return *e;
      if (!f.contains("rerun") || !f["rerun"].is_string())
        return spec_error(where + ": on_failure.rerun must name an upstream stage");
      if (!f.contains("max_attempts") || !is_count(f["max_attempts"]) ||
          f["max_attempts"].get<std::uint64_t>() < 1 ||
          f["max_attempts"].get<std::uint64_t>() > on_failure_attempts_max)
        return spec_error(where + ": on_failure.max_attempts must be an integer from 1 to " +
                          std::to_string(on_failure_attempts_max));
      r.rerun = f["rerun"].get<std::string>();
      r.max_attempts = f["max_attempts"].get<std::uint32_t>();
    }
    raw.push_back(std::move(r));
  }

  // Pass 2: edges. Unknown names are refused before looking for cycles.
  const std::size_t n = raw.size();
  std::vector<std::vector<std::size_t>> children(n);
  std::vector<std::size_t> indegree(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& up : raw[i].after) {
      auto it = file_index.find(up);
      if (it == file_index.end())
        return spec_error("stage " + q(raw[i].name) + ": \"after\" names unknown stage " + q(up));
      children[it->second].push_back(i);
      ++indegree[i];
    }
  }

  // Kahn's algorithm; among ready stages the one first in the file goes first,
  // so the order is deterministic and a sorted spec sorts to itself.
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < n; ++i)
    if (indegree[i] == 0) ready.push(i);
  std::vector<std::size_t> order;
  while (!ready.empty()) {
    std::size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (std::size_t c : children[i])
      if (--indegree[c] == 0) ready.push(c);
  }
  if (order.size() != n) {
    std::string cyc;
    for (std::size_t i = 0; i < n; ++i)
      if (indegree[i] > 0) cyc += (cyc.empty() ? "" : ", ") + q(raw[i].name);
    return spec_error("spec: the stages " + cyc + " form a cycle through \"after\"");
  }

  auto spec = std::make_shared<pipeline_spec>();
  spec->name_ = pname;
  std::vector<stage_index> topo_of(n);
  for (std::size_t k = 0; k < n; ++k) topo_of[order[k]] = static_cast<stage_index>(k);
  spec->stages_.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    raw_stage& r = raw[order[k]];
    stage_spec& s = spec->stages_[k];
    s.name = r.name;
    for (const auto& up : r.after) s.after.push_back(topo_of[file_index[up]]);
    std::sort(s.after.begin(), s.after.end());
    s.run = std::move(r.run);
    s.retry = r.retry;
    s.confirm = std::move(r.confirm);
    s.upstream_set = stage_set(n);
    s.downstream_set = stage_set(n);
    spec->by_name_[s.name] = static_cast<stage_index>(k);
  }
  for (stage_index k = 0; k < n; ++k)
    for (stage_index up : spec->stages_[k].after) spec->stages_[up].before.push_back(k);
  // Transitive closures: upstream in topological order, downstream in reverse.
  for (stage_index k = 0; k < n; ++k) {
    stage_spec& s = spec->stages_[k];
    for (stage_index up : s.after) {
      s.upstream_set.insert(up);
      s.upstream_set.merge(spec->stages_[up].upstream_set);
    }
  }
  for (stage_index k = static_cast<stage_index>(n); k-- > 0;) {
    stage_spec& s = spec->stages_[k];
    for (stage_index down : s.before) {
      s.downstream_set.insert(down);
      s.downstream_set.merge(spec->stages_[down].downstream_set);
    }
  }
  for (auto& s : spec->stages_) {
    s.upstream = to_list(s.upstream_set, n);
    s.downstream = to_list(s.downstream_set, n);
  }

  // Pass 3: policies that refer to other stages.
  for (std::size_t k = 0; k < n; ++k) {
    const raw_stage& r = raw[order[k]];
    if (!r.rerun) continue;
    stage_index target = spec->find(*r.rerun);
    std::string where = "stage " + q(r.name);
    if (target == no_stage)
      return spec_error(where + ": on_failure.rerun names unknown stage " + q(*r.rerun));
    if (!spec->is_upstream(target, static_cast<stage_index>(k)))
      return spec_error(where + ": on_failure.rerun " + q(*r.rerun) +
                        " is not upstream of " + q(r.name));
    spec->stages_[k].on_failure = on_failure_spec{target, r.max_attempts};
  }
  return std::shared_ptr<const pipeline_spec>(std::move(spec));
}

result<std::shared_ptr<const pipeline_spec>> parse_spec_text(std::string_view text, std::string_view where) {
  // Bounded, and a key given twice is refused rather than one of its values
  // silently chosen. A syntax error says where ("parse error at line 3,
  // column 5: ..."), like a number too large for a double (406).
  auto doc = parse_json(text, where, json_limits{json_depth_max, spec_file_bytes_max});
  if (!doc) return spec_error(doc.err().message);
  auto parsed = parse_spec(*doc);
  if (!parsed) {
    // Name the file instead of the generic "spec".
    std::string_view msg = parsed.err().message;
    if (msg.substr(0, 6) == "spec: ") msg.remove_prefix(6);
    return spec_error(std::string(where) + ": " + std::string(msg));
  }
  return parsed;
}

result<std::shared_ptr<const pipeline_spec>> load_spec(const std::string& path) {
  auto text = read_file(path, spec_file_bytes_max, "the spec file", errc::spec_invalid);
  if (!text) return text.err();
  return parse_spec_text(*text, path);
}

json pipeline_spec::to_json() const {
  json stages = json::array();
  for (const auto& s : stages_) {
    json after = json::array();
    for (stage_index up : s.after) after.push_back(stages_[up].name);
    json j = {{"name", s.name}, {"after", after}, {"run", run_to_json(s.run)}};
    if (s.retry)
      j["run"]["retry"] = {{"max_attempts", s.retry->max_attempts},
                           {"backoff_ms", s.retry->backoff_ms},
                           {"backoff_max_ms", s.retry->backoff_max_ms}};
    if (s.confirm) j["confirm"] = *s.confirm;
    if (s.on_failure)
      j["on_failure"] = {{"rerun", stages_[s.on_failure->rerun].name},
                         {"max_attempts", s.on_failure->max_attempts}};
    stages.push_back(std::move(j));
  }
  return {{"name", name_}, {"stages", std::move(stages)}};
}

}  // namespace dairector
