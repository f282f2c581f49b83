// The HTTP control API (docs/http.md) on cpp-httplib. Each request, once it
// has arrived whole (http_listener.hpp) and passed the checks of who may call
// (http_guard.hpp), runs on a pool thread with a scoped actor of its own and becomes one
// message to the director or to a supervisor (mailbox order stays the order of
// history); the answer is turned into JSON. Nothing here holds pipeline state.
// The event stream is in http_stream.cpp, what both share in http_support.hpp.
#include "cli/http_api.hpp"
#include "cli/cluster_reads.hpp"
#include "cli/http_guard.hpp"
#include "cli/http_listener.hpp"
#include "cli/http_support.hpp"
#include "cli/http_web.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <optional>
#include <string_view>

#include "dairector/actors/director.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/codec.hpp"
#include "dairector/journal_store.hpp"
#include "dairector/json_bounds.hpp"
#include "dairector/spec.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

using namespace http;

namespace {

using namespace std::chrono_literals;

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr std::size_t body_bytes_max = 16u << 20;  // a larger body is refused (413)
constexpr std::size_t http_threads = 16;  // an open event stream holds none (http_pump.hpp)
constexpr const char* default_by = "user:http";
constexpr int retry_after_s = 1;  // a journal commits many times a second: try again soon

// A supervisor's refusal as an error (the HTTP status follows from its code).
// `behind` (back-pressure: the journal is too many events behind the
// pipeline, supervisor.hpp) is a 503 like a journal that is unavailable,
// with Retry-After (see `control`): the same request succeeds once it has
// caught up. The CLI's --server turns any 503 into exit 5.
error refusal(const da::reply& r) {
  switch (r.code) {
    case da::reply::refused: return make_error(errc::refused, r.message);
    case da::reply::blocked: return make_error(errc::blocked, r.message);
    case da::reply::not_found: return make_error(errc::not_found, r.message);
    case da::reply::invalid: return make_error(errc::decode_failed, r.message);
    default: return make_error(errc::journal, r.message.empty() ? "the pipeline is unavailable" : r.message);
  }
}

// ---------------------------------------------------------------------------
// Reading requests

// The body as a JSON object with only the named fields (an empty body is {}).
result<json> body_object(const httplib::Request& req, std::initializer_list<std::string_view> fields) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  // The one parser for JSON from outside: bounded, no key twice.
  auto body = parse_json(req.body, "the body", json_limits{json_depth_max, body_bytes_max});
  if (!body) return body.err();
  if (!body->is_object()) return make_error(errc::decode_failed, "the body must be a JSON object");
  for (const auto& [key, value] : body->items()) {
    bool known = key == "by";
    for (std::string_view f : fields) known = known || key == f;
    if (!known) return make_error(errc::decode_failed, "unknown field \"" + key + "\" in the body");
    // by, note, id, stage end up in the audit trail: no control characters
    // (a context is data, and a spec is checked by its parser).
    if (auto why = value.is_string() && key != "context" ? control_refusal(value.get_ref<const std::string&>())
                                                           : std::nullopt)
      return make_error(errc::decode_failed, "\"" + key + "\" " + *why);
  }
  return body;
}

// An optional string field: `fallback` when absent or null.
result<std::string> string_field(const json& body, const char* name, std::string fallback, std::size_t chars_max) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_string()) return make_error(errc::decode_failed, std::string("\"") + name + "\" must be a string");
  std::string value = it->get<std::string>();
  if (value.size() > chars_max)
    return make_error(errc::decode_failed,
                      std::string("\"") + name + "\" is longer than " + std::to_string(chars_max) + " bytes");
  return value;
}

result<std::string> who(const json& body) {
  auto by = string_field(body, "by", default_by, by_bytes_max);
  if (by && by->empty()) return make_error(errc::decode_failed, "\"by\" must not be empty");
  return by;
}

// The very lines of `history --json`, joined into one array.
std::string history_body(const std::vector<event>& h) {
  std::string out = "[";
  const pipeline_spec* spec = h.empty() ? nullptr : h.front().spec.get();
  for (const event& e : h) {
    if (out.size() > 1) out += ",";
    out += encode_event_text(e, spec);
  }
  out += "]\n";
  return out;
}

// Marks a request one server of a cluster carried to another (never carried again).
constexpr const char* forwarded_header = "X-Dairector-Forwarded";
constexpr std::time_t forward_timeout_s = 30;

// Carries a change to the server at `to` (HOST:PORT) and relays its answer.
void forward(const httplib::Request& req, httplib::Response& res, const std::string& to, const std::string& token) {
  httplib::Client owner("http://" + to);
  owner.set_connection_timeout(forward_timeout_s, 0);
  owner.set_read_timeout(forward_timeout_s, 0);
  httplib::Headers headers{{"Authorization", "Bearer " + token}, {forwarded_header, "1"}};
  auto answer = owner.Post(req.path, headers, req.body, "application/json");
  if (!answer) {
    res.set_header("Retry-After", std::to_string(retry_after_s));
    return send_error(res, 503, "the pipeline's owner at " + to + " did not answer (" +
                                    httplib::to_string(answer.error()) + "): retry");
  }
  res.status = answer->status;
  if (answer->has_header("Retry-After")) res.set_header("Retry-After", answer->get_header_value("Retry-After"));
  res.set_content(answer->body, answer->get_header_value("Content-Type").empty()
                                    ? "application/json"
                                    : answer->get_header_value("Content-Type").c_str());
}

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > pipeline_id_bytes_max || !std::isalnum(static_cast<unsigned char>(id[0]))) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

// ---------------------------------------------------------------------------
// The server

struct http_api::impl {
  explicit impl(http_api_config c) : cfg(std::move(c)) {}

  http_api_config cfg;
  router svr;  // parses, routes and answers what `front` collected
  listener front{svr, listener_config{http_threads, body_bytes_max}};
  std::optional<guard> checks;  // who may call: made when the port is bound
  std::atomic<bool> stopping{false};
  std::unique_ptr<event_hub> hub;  // the event streams' source: made at start()
  bool bound = false;

  void dispatch(const httplib::Request& req, httplib::Response& res);

  // Endpoints (docs/http.md).
  void list(caf::scoped_actor& self, httplib::Response& res);
  void create(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res);
  void state(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res, const std::string& id);
  void history(caf::scoped_actor& self, httplib::Response& res, const std::string& id);
  void events(const httplib::Request& req, httplib::Response& res, const std::string& id) {
    serve_events(*hub, req, res, id);
  }
  void context(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res, const std::string& id,
               const std::string& stage);
  void resolve(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res, const std::string& id,
               bool approved);
  void cancel(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res, const std::string& id);
  void rollback(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res, const std::string& id);
  // A pipeline another server owns (cluster_reads.hpp).
  void elsewhere(const httplib::Request& req, httplib::Response& res, const std::vector<std::string>& p,
                 const std::string& id);

  // A control request to the pipeline's supervisor; on ok, the state after it.
  template <class... Ts>
  void control(caf::scoped_actor& self, httplib::Response& res, const std::string& id, Ts&&... request) {
    auto r = ask_pipeline<da::reply>(self, cfg, id, std::forward<Ts>(request)...);
    if (!r) return send_error(res, r.err());
    if (!r->is_ok()) {
      if (r->code == da::reply::behind) res.set_header("Retry-After", std::to_string(retry_after_s));
      return send_error(res, refusal(*r));
    }
    auto s = ask_pipeline<system_state>(self, cfg, id, da::state_atom::value);
    if (!s) return send_error(res, s.err());
    send_json(res, 200, state_to_json(*s));
  }
};

void http_api::impl::dispatch(const httplib::Request& req, httplib::Response& res) {
  std::vector<std::string> p;  // the path's segments
  for (std::size_t at = 1; at <= req.path.size();) {
    std::size_t slash = std::min(req.path.find('/', at), req.path.size());
    p.push_back(req.path.substr(at, slash - at));
    at = slash + 1;
  }
  if (!p.empty() && p.back().empty()) p.pop_back();  // a trailing slash
  const bool get = req.method == "GET" || req.method == "HEAD", post = req.method == "POST";
  auto not_allowed = [&](const char* allow) {
    res.set_header("Allow", allow);
    send_error(res, 405, req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
  };
  auto is = [&](std::initializer_list<const char*> want) {
    if (p.size() != want.size()) return false;
    std::size_t i = 0;
    for (const char* w : want) {
      if (*w ? p[i] != w : p[i].empty()) return false;  // "" stands for a non-empty name
      ++i;
    }
    return true;
  };
  caf::scoped_actor self{*cfg.system};
  if (is({"healthz"})) {
    if (!get) return not_allowed("GET");
    return send_json(res, 200, json{{"ok", true}});
  }
  if (is({"cluster"})) {
    if (!get) return not_allowed("GET");
    if (!cfg.cluster) return send_error(res, 404, "this server is not in a cluster (its journal is not PostgreSQL)");
    return send_json(res, 200, cfg.cluster());
  }
  if (is({"events"})) return get ? serve_all_events(*hub, req, res) : not_allowed("GET");
  if (is({"pipelines"})) {
    if (get) return list(self, res);
    if (post) return create(self, req, res);
    return not_allowed("GET, POST");
  }
  // A pipeline another server of the cluster owns: read here, changed there.
  // (Its event stream polls the database: serve_events.)
  const bool read = get && (is({"pipelines", ""}) || is({"pipelines", "", "history"}));
  const bool change = post && (is({"pipelines", "", "stages", "", "context"}) || is({"pipelines", "", "confirm"}) ||
                               is({"pipelines", "", "reject"}) || is({"pipelines", "", "cancel"}) ||
                               is({"pipelines", "", "rollback"}));
  if (cfg.others && (read || change))
    if (auto unknown = known(self, cfg, p[1]); unknown && unknown->code == errc::not_found)
      return elsewhere(req, res, p, p[1]);
  if (is({"pipelines", ""})) return get ? state(self, req, res, p[1]) : not_allowed("GET");
  if (is({"pipelines", "", "history"})) return get ? history(self, res, p[1]) : not_allowed("GET");
  if (is({"pipelines", "", "events"})) return get ? events(req, res, p[1]) : not_allowed("GET");
  if (is({"pipelines", "", "stages", "", "context"})) return post ? context(self, req, res, p[1], p[3]) : not_allowed("POST");
  if (is({"pipelines", "", "confirm"})) return post ? resolve(self, req, res, p[1], true) : not_allowed("POST");
  if (is({"pipelines", "", "reject"})) return post ? resolve(self, req, res, p[1], false) : not_allowed("POST");
  if (is({"pipelines", "", "cancel"})) return post ? cancel(self, req, res, p[1]) : not_allowed("POST");
  if (is({"pipelines", "", "rollback"})) return post ? rollback(self, req, res, p[1]) : not_allowed("POST");
  send_error(res, 404, "no such path: " + req.path);
}

// Reads come from the shared database; a change goes to the owner, whose
// answer is relayed as it is (the owner applies it in its mailbox order).
// A request forwarded once is not forwarded again: ownership that moved on
// meanwhile is a 503 to retry, never a loop.
void http_api::impl::elsewhere(const httplib::Request& req, httplib::Response& res, const std::vector<std::string>& p,
                               const std::string& id) {
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (get && (p.size() == 2 || (p.size() == 3 && p[2] == "history"))) {
    auto h = cfg.others->history(id);
    if (!h) return send_error(res, h.err());
    if (p.size() == 3) return res.set_content(history_body(*h), "application/json");
    std::uint64_t upto = UINT64_MAX;
    if (req.has_param("at")) {
      auto at = parse_seq(req.get_param_value("at"), "at", /*zero_ok=*/false);
      if (!at) return send_error(res, at.err());
      upto = *at;
    }
    auto s = replay(*h, upto);
    if (!s) return send_error(res, s.err());
    return send_json(res, 200, state_to_json(*s));
  }
  if (req.has_header(forwarded_header)) {
    res.set_header("Retry-After", std::to_string(retry_after_s));
    return send_error(res, 503, "pipeline '" + id + "' is not hosted here either (its ownership is moving): retry");
  }
  auto owner = cfg.others->owner_http(id);
  if (!owner) {
    res.set_header("Retry-After", std::to_string(retry_after_s));
    return send_error(res, owner.err());
  }
  forward(req, res, *owner, cfg.token);
}

// Every pipeline the server knows, live, resting or damaged. A live one's
// seq comes from its supervisor; a resting one's is the director's (nothing
// is rebuilt to list it); a damaged one carries "damage": {"seq", "reason"}.
void http_api::impl::list(caf::scoped_actor& self, httplib::Response& res) {
  auto all = ask<std::vector<da::hosted_pipeline>>(self, cfg.director, errc::journal, da::summary_atom::value);
  if (!all) return send_error(res, all.err());
  json out = json::array();
  for (const da::hosted_pipeline& p : *all) {
    std::uint64_t seq = p.seq;
    if (p.supervisor)  // it may rest meanwhile: then the director's seq stands
      if (auto s = ask<system_state>(self, p.supervisor, errc::not_found, da::state_atom::value); s && !s->empty())
        seq = s->seq();
    json entry{{"pipeline", p.id}, {"name", p.name}, {"seq", seq}};
    if (!p.damage.empty()) entry["damage"] = json{{"seq", p.damaged_seq}, {"reason", p.damage}};
    out.push_back(std::move(entry));
  }
  if (cfg.others) {
    // And those other servers of the cluster own, from the database.
    auto everyone = cfg.others->pipelines();
    if (!everyone) return send_error(res, everyone.err());
    std::vector<std::string> here;
    for (const da::hosted_pipeline& p : *all) here.push_back(p.id);  // sorted by id
    for (const pipeline_summary& p : *everyone) {
      if (std::binary_search(here.begin(), here.end(), p.id)) continue;
      auto h = cfg.others->history(p.id);
      std::string name = h && !h->empty() && h->front().spec ? h->front().spec->name() : std::string();
      out.push_back(json{{"pipeline", p.id}, {"name", name}, {"seq", p.seq}});
    }
  }
  send_json(res, 200, out);
}

void http_api::impl::create(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res) {
  auto body = body_object(req, {"spec", "id"});
  if (!body) return send_error(res, body.err());
  auto spec_field = body->find("spec");
  if (spec_field == body->end() || !spec_field->is_object())
    return send_error(res, 400, "the body needs \"spec\": the pipeline spec (a JSON object, docs/spec.md)");
  auto spec = parse_spec(*spec_field);
  if (!spec) return send_error(res, 400, spec.err().message);
  auto id = string_field(*body, "id", (*spec)->name(), pipeline_id_bytes_max);
  if (!id) return send_error(res, id.err());
  if (!valid_id(*id))
    return send_error(res, 400, "\"id\" must be 1 to " + std::to_string(pipeline_id_bytes_max) +
                                    " letters, digits, '-', '_' or '.', starting with a letter or digit");
  if (auto by = who(*body); !by) return send_error(res, by.err());  // checked; the creation is by `system`
  if (cfg.others) {
    // In a cluster the id may be another server's: said here as 409 (a
    // creation racing this check is refused by the database, as a 503).
    auto exists = cfg.others->history(*id);
    if (exists) return send_error(res, 409, "pipeline '" + *id + "' already exists");
    if (exists.err().code != errc::not_found) return send_error(res, exists.err());
  }
  auto r = ask<da::reply>(self, cfg.director, errc::journal, da::create_atom::value, *id, *spec, cfg.workdir);
  if (!r) return send_error(res, r.err());
  // The director answers `invalid` only for an id it already hosts (id and spec are set).
  if (r->code == da::reply::invalid) return send_error(res, 409, r->message);
  if (!r->is_ok()) return send_error(res, refusal(*r));
  res.set_header("Location", "/pipelines/" + *id);
  send_json(res, 201, json{{"pipeline", *id}});
}

void http_api::impl::state(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res,
                           const std::string& id) {
  if (!req.has_param("at")) {
    auto s = ask_pipeline<system_state>(self, cfg, id, da::state_atom::value);
    if (!s) return send_error(res, s.err());
    return send_json(res, 200, state_to_json(*s));
  }
  if (auto unknown = known(self, cfg, id)) return send_error(res, *unknown);
  auto at = parse_seq(req.get_param_value("at"), "at", /*zero_ok=*/false);
  if (!at) return send_error(res, at.err());
  auto h = history_of(self, cfg, id);
  if (!h) return send_error(res, h.err());
  auto s = replay(*h, *at);  // past the end: not_found (404) naming the last seq
  if (!s) return send_error(res, s.err());
  send_json(res, 200, state_to_json(*s));
}

void http_api::impl::history(caf::scoped_actor& self, httplib::Response& res, const std::string& id) {
  if (auto unknown = known(self, cfg, id)) return send_error(res, *unknown);
  auto h = history_of(self, cfg, id);
  if (!h) return send_error(res, h.err());
  res.status = 200;
  res.set_content(history_body(*h), "application/json");
}

void http_api::impl::context(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res,
                             const std::string& id, const std::string& stage) {
  auto body = body_object(req, {"context"});
  if (!body) return send_error(res, body.err());
  auto by = who(*body);
  if (!by) return send_error(res, by.err());
  std::string context;
  if (auto it = body->find("context"); it != body->end()) {
    context = it->dump();
  } else {
    // No new context: the stage's own again (the change still cascades).
    auto s = ask_pipeline<system_state>(self, cfg, id, da::state_atom::value);
    if (!s) return send_error(res, s.err());
    const stage_index i = s->spec().find(stage);
    if (i == no_stage) return send_error(res, 404, "pipeline '" + id + "' has no stage '" + stage + "'");
    const auto& current = s->payload(i).context;
    context = current ? current->dump() : "{}";
  }
  control(self, res, id, da::context_atom::value, stage, context, *by);
}

void http_api::impl::resolve(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res,
                             const std::string& id, bool approved) {
  auto body = body_object(req, {"note"});
  if (!body) return send_error(res, body.err());
  auto note = string_field(*body, "note", "", note_bytes_max);
  if (!note) return send_error(res, note.err());
  auto by = who(*body);
  if (!by) return send_error(res, by.err());
  control(self, res, id, da::resolve_atom::value, approved, *note, *by);
}

void http_api::impl::cancel(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res,
                            const std::string& id) {
  auto body = body_object(req, {"stage"});
  if (!body) return send_error(res, body.err());
  auto stage = string_field(*body, "stage", "", pipeline_id_bytes_max);  // a stage name is shorter still
  if (!stage) return send_error(res, stage.err());
  if (body->contains("stage") && !(*body)["stage"].is_null() && stage->empty())
    return send_error(res, 400, "\"stage\" must name a stage (leave it out to cancel the pipeline)");
  auto by = who(*body);
  if (!by) return send_error(res, by.err());
  control(self, res, id, da::cancel_atom::value, *stage, *by);
}

void http_api::impl::rollback(caf::scoped_actor& self, const httplib::Request& req, httplib::Response& res,
                              const std::string& id) {
  auto body = body_object(req, {"to"});
  if (!body) return send_error(res, body.err());
  auto to = body->find("to");
  if (to == body->end() || !to->is_number_unsigned() || to->get<std::uint64_t>() == 0)
    return send_error(res, 400, "the body needs \"to\": the seq to return to (1 or more)");
  auto by = who(*body);
  if (!by) return send_error(res, by.err());
  control(self, res, id, da::rollback_atom::value, to->get<std::uint64_t>(), *by);
}

http_api::http_api(http_api_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {
  auto& svr = impl_->svr;
  svr.set_payload_max_length(body_bytes_max);
  // Who may call (http_guard.hpp), before any route and before the body is
  // read: a refusal says what is wrong with the request itself (a form's
  // content type, say), not that its body is large.
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto no = impl_->checks->check(req);
    if (!no) return httplib::Server::HandlerResponse::Unhandled;
    for (const auto& [name, value] : no->headers) res.set_header(name, value);
    send_error(res, no->status, no->sentence);
    return httplib::Server::HandlerResponse::Handled;
  });
  add_web_routes(svr, impl_->checks);  // the web view (http_web.hpp), before the catch-all routes
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { impl_->dispatch(req, res); };
  // Every method reaches one dispatcher, which answers 404 and 405 itself.
  svr.Get(".*", handler);
  svr.Post(".*", handler);
  svr.Put(".*", handler);
  svr.Patch(".*", handler);
  svr.Delete(".*", handler);
  svr.Options(".*", handler);
  // httplib's own refusals (a malformed request, a body over the limit) get a
  // JSON body too; answers that already have one are left alone.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string sentence = "the request was refused";
    if (res.status == 413) sentence = "the body is larger than " + std::to_string(body_bytes_max >> 20) + " MiB";
    else if (res.status == 404) sentence = "no such path: " + req.path;
    else if (res.status == 400) sentence = "malformed HTTP request";
    send_error(res, res.status, sentence);
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "internal error: " + what);
  });
}

http_api::~http_api() { stop(); }

result<int> http_api::bind(const std::string& host, int port) {
  if (port < 0 || port > 65535) return make_error(errc::decode_failed, "port " + std::to_string(port) + " is not a port");
  guard_config gc{impl_->cfg.token, host, static_cast<std::uint16_t>(port), impl_->cfg.names, body_bytes_max};
  if (auto named = guard::make(gc); !named) return named.err();  // a wrong --http-host, before anything listens
  auto bound = impl_->front.bind(host, static_cast<std::uint16_t>(port));
  if (!bound) return bound.err();
  gc.port = *bound;
  impl_->checks.emplace(*guard::make(std::move(gc)));
  impl_->bound = true;
  return *bound;
}

void http_api::start() {
  if (!impl_->bound) return;
  impl_->hub = std::make_unique<event_hub>(impl_->cfg, impl_->front.pump());
  impl_->front.start();
}

void http_api::stop() {
  impl_->stopping = true;
  if (impl_->hub) impl_->hub->stop();  // first: it no longer wakes the pump
  impl_->front.stop();                 // open event streams end (the pump's last chunk)
}

}  // namespace dairector::cli
