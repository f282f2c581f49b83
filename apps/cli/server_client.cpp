#include "cli/server_client.hpp"

#include <httplib.h>

#include <unistd.h>

#include <csignal>
#include <regex>

#include "cli/net_args.hpp"
#include "dairector/codec.hpp"
#include "dairector/json_bounds.hpp"

namespace dairector::cli {

namespace {

// Bounds (docs/contributing.md#habit-8-bound-everything): a server that does not connect or answer by
// then counts as unreachable (exit 5).
constexpr std::time_t connect_timeout_s = 5;
constexpr std::time_t answer_timeout_s = 60;
// An answer holds at most a whole history (many events) or a state (every
// stage's output): far more than one event may, but not without end.
constexpr std::size_t answer_bytes_max = std::size_t{1} << 30;
// A line of the event stream holds one event.
constexpr std::size_t stream_line_bytes_max = event_bytes_max + 64;

std::string describe(httplib::Error err) {
  switch (err) {
    case httplib::Error::Connection: return "the connection was refused or the host is unreachable";
    case httplib::Error::ConnectionTimeout:
      return "no connection within " + std::to_string(connect_timeout_s) + " s";
    case httplib::Error::Read: return "no answer (the connection broke or it took over " +
                                      std::to_string(answer_timeout_s) + " s)";
    case httplib::Error::Write: return "the request could not be sent";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLServerVerification: return "the TLS handshake failed";
    default: return httplib::to_string(err);
  }
}

}  // namespace

result<server_client> server_client::open(const std::string& url, const std::string& token_file) {
  static const std::regex form(R"(^(https?)://([^/?#@\s]+?)/?$)");
  if (!std::regex_match(url, form))
    return make_error(errc::refused, "--server must look like http://HOST:PORT, not '" + url + "'");
  server_client c;
  c.url_ = url.back() == '/' ? url.substr(0, url.size() - 1) : url;
  // A server closing the connection mid-request must not kill this process.
  std::signal(SIGPIPE, SIG_IGN);
  c.http_ = std::make_shared<httplib::Client>(c.url_);
  if (!c.http_->is_valid()) return make_error(errc::refused, "--server " + url + " is not a usable address");
  c.http_->set_connection_timeout(connect_timeout_s);
  c.http_->set_read_timeout(answer_timeout_s);
  c.http_->set_write_timeout(answer_timeout_s);
  // Every request but /healthz needs the token, on loopback too. Only the
  // default file may be missing: a file named by --token-file must be there.
  const std::string path = token_file.empty() ? default_token_file() : token_file;
  if (token_file.empty() && (path.empty() || ::access(path.c_str(), F_OK) != 0)) {
    c.no_token_ = path.empty() ? "no token was sent: pass --token-file (the server's)"
                               : "no token was sent: " + path + " does not exist; pass --token-file (the server's)";
    return c;
  }
  auto token = read_token(path, /*create=*/false);
  if (!token) return token.err();
  c.http_->set_bearer_token_auth(*token);
  return c;
}

result<json> server_client::exchange(const char* method, const std::string& path, const json* body) const {
  httplib::Request req;
  req.method = method;
  req.path = path;
  if (body) {
    req.body = body->dump();
    req.set_header("Content-Type", "application/json");
  }
  std::string received;
  bool too_large = false;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (n > answer_bytes_max - received.size()) {
      too_large = true;
      return false;  // stop reading
    }
    received.append(data, n);
    return true;
  };
  auto r = http_->send(req);
  if (too_large)
    return make_error(errc::journal, "server " + url_ + " sent an answer larger than " + bytes_text(answer_bytes_max));
  return answer(r, received);
}

result<json> server_client::answer(const httplib::Result& r, const std::string& text) const {
  if (!r) return make_error(errc::journal, "cannot reach server " + url_ + ": " + describe(r.error()));
  auto body = parse_json(text, "the answer of server " + url_, json_limits{json_depth_max, answer_bytes_max});
  if (r->status >= 200 && r->status < 300) {
    if (!body && text.find_first_not_of(" \t\r\n") == std::string::npos)
      return make_error(errc::journal, "server " + url_ + " answered " + std::to_string(r->status) + " without JSON");
    if (!body) return make_error(errc::journal, body.err().message);
    return std::move(*body);
  }
  std::string sentence = "HTTP " + std::to_string(r->status);
  if (body && body->is_object() && body->contains("error") && (*body)["error"].is_string())
    sentence = (*body)["error"];
  if (r->status == 401 && !no_token_.empty()) sentence += " (" + no_token_ + ")";
  if (r->status >= 400 && r->status < 500)
    return make_error(r->status == 404 ? errc::not_found : errc::refused, sentence);
  return make_error(errc::journal, "server " + url_ + " answered " + std::to_string(r->status) + ": " + sentence);
}

result<json> server_client::get(const std::string& path) const { return exchange("GET", path, nullptr); }

result<json> server_client::post(const std::string& path, const json& body) const {
  return exchange("POST", path, &body);
}

result<std::string> server_client::pick_pipeline(const std::string& id) const {
  if (!id.empty()) return id;
  auto all = get("/pipelines");
  if (!all) return all.err();
  if (!all->is_array()) return make_error(errc::journal, "server " + url_ + " answered GET /pipelines with no list");
  if (all->empty()) return make_error(errc::not_found, "server " + url_ + " hosts no pipeline");
  std::string names;
  for (const json& p : *all) {
    if (!p.is_object() || !p.contains("pipeline") || !p["pipeline"].is_string())
      return make_error(errc::journal, "server " + url_ + " listed a pipeline without an id");
    names += (names.empty() ? "" : ", ") + p["pipeline"].get<std::string>();
  }
  if (all->size() == 1) return names;
  return make_error(errc::not_found, "server " + url_ + " hosts " + std::to_string(all->size()) + " pipelines (" +
                                         names + "): choose one with --id");
}

result<std::vector<event>> server_client::history(const std::string& id) const {
  auto events = get(pipeline_path(id) + "/history");
  if (!events) return events.err();
  if (!events->is_array()) return make_error(errc::journal, "server " + url_ + " sent a history that is not a list");
  if (events->empty()) return make_error(errc::not_found, "pipeline '" + id + "' has no events yet");
  std::vector<event> out;
  out.reserve(events->size());
  std::shared_ptr<const pipeline_spec> spec;  // from the first event, pipeline_created
  for (const json& j : *events) {
    auto e = decode_event(j, spec.get());
    if (!e) return make_error(errc::journal, "server " + url_ + " sent an event that does not decode: " + e.err().message);
    if (!spec) spec = e->spec;
    if (!spec) return make_error(errc::journal, "server " + url_ + " sent a history that does not start with its spec");
    out.push_back(std::move(*e));
  }
  return out;
}

std::optional<error> server_client::follow(const std::string& id, const std::function<bool(const event&)>& on_event,
                                           const std::function<bool()>& on_idle) const {
  std::string buffer, data;
  std::shared_ptr<const pipeline_spec> spec;  // from the first event, pipeline_created
  std::optional<error> failed;
  bool stopped = false;
  // One SSE frame per blank line: `id:` and `data:` fields, `:` comments (keepalives).
  auto frame = [&](const std::string& line) -> bool {
    if (line.rfind("data: ", 0) == 0) {
      data += line.substr(6);
      if (data.size() <= event_bytes_max) return true;
      failed = make_error(errc::journal, "server " + url_ + " streamed an event larger than " +
                                             bytes_text(event_bytes_max));
      return false;
    }
    if (!line.empty()) return line[0] != ':' || on_idle();
    if (data.empty()) return true;
    auto e = decode_event_text(data, spec.get());
    data.clear();
    if (!e) {
      failed = make_error(errc::journal, "server " + url_ + " streamed an event that does not decode: " + e.err().message);
      return false;
    }
    if (!spec) spec = e->spec;
    return on_event(*e);
  };
  auto r = http_->Get(pipeline_path(id) + "/events", [&](const char* bytes, std::size_t n) {
    buffer.append(bytes, n);
    if (buffer.size() > stream_line_bytes_max && buffer.find('\n') == std::string::npos) {
      failed = make_error(errc::journal, "server " + url_ + " streamed a line longer than an event may be (" +
                                             bytes_text(event_bytes_max) + ")");
      return false;
    }
    for (std::size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!frame(line)) {
        stopped = true;
        return false;
      }
    }
    return true;
  });
  if (failed) return failed;
  if (stopped) return std::nullopt;
  if (r && r->status != 200) {
    auto err = answer(r, r->body);
    return err ? make_error(errc::journal, "server " + url_ + " ended the event stream") : err.err();
  }
  return make_error(errc::journal, "the event stream of server " + url_ + " broke: " +
                                       (r ? std::string("it ended") : describe(r.error())));
}

std::optional<error> server_client::get_stream(const std::string& path,
                                               const std::function<bool(std::string_view)>& on_bytes) const {
  int status = 0;
  std::string refusal;  // the body of an answer that is not 2xx (bounded: it is a sentence)
  bool stopped = false;
  auto r = http_->Get(
      path,
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, std::size_t n) {
        if (status < 200 || status >= 300) {
          refusal.append(data, std::min(n, (std::size_t{64} << 10) - std::min(refusal.size(), std::size_t{64} << 10)));
          return true;
        }
        if (on_bytes(std::string_view(data, n))) return true;
        stopped = true;
        return false;
      });
  if (stopped) return std::nullopt;
  if (!r || r->status < 200 || r->status >= 300) {
    auto err = answer(r, refusal);
    return err ? make_error(errc::journal, "server " + url_ + " answered " + std::to_string(status)) : err.err();
  }
  return std::nullopt;
}

std::string pipeline_path(const std::string& id) { return "/pipelines/" + path_segment(id); }

std::string path_segment(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace dairector::cli
