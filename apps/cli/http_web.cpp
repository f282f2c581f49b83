#include "cli/http_web.hpp"

#include <string>

#include "cli/http_guard.hpp"
#include "cli/http_session.hpp"
#include "cli/http_support.hpp"
#include "dairector/json_bounds.hpp"

namespace dairector::cli::http {

namespace {

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr std::size_t session_body_bytes_max = 4096;  // {"token": ...} and nothing else
constexpr std::size_t token_chars_max = 1024;

// The page loads only itself: no inline script or style, no other host, not
// framed by another site. (Styles the page sets from script go through the
// CSSOM, which style-src does not govern.)
constexpr const char* content_security_policy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

}  // namespace

void serve_web_file(const httplib::Request& req, httplib::Response& res) {
  const web_file* f = web_file_for(req.path);
  if (!f) return send_error(res, 404, "no such path: " + req.path);
  res.set_header("Content-Security-Policy", content_security_policy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  // The names do not change from one build to the next: the browser asks
  // each time whether its copy is still this program's (ETag, 304).
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", f->etag);
  if (req.get_header_value("If-None-Match") == f->etag) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(reinterpret_cast<const char*>(f->bytes), f->size, f->type);
}

namespace {

std::string cookie(const std::string& value, long max_age_s) {
  return std::string(session_cookie) + "=" + value + "; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
         std::to_string(max_age_s);
}

}  // namespace

void sign_in(const guard& checks, const httplib::Request& req, httplib::Response& res) {
  auto body = parse_json(req.body, "the body", json_limits{8, session_body_bytes_max});
  if (!body) return send_error(res, 400, body.err().message);
  const auto token = body->is_object() ? body->find("token") : body->end();
  if (!body->is_object() || token == body->end() || !token->is_string() || body->size() != 1)
    return send_error(res, 400, "the body must be {\"token\": \"...\"}: the server's token, as a string");
  const std::string& given = token->get_ref<const std::string&>();
  if (given.size() > token_chars_max || !checks.token_matches(given)) {
    res.set_header("WWW-Authenticate", "Bearer");
    return send_error(res, 401, "wrong token: give the server's token (the first line of its --token-file)");
  }
  const long lifetime_s = static_cast<long>(checks.sessions().lifetime().count());
  res.set_header("Set-Cookie", cookie(checks.sessions().open(), lifetime_s));
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, json{{"ok", true}, {"expires_s", lifetime_s}});
}

void sign_out(const guard& checks, const httplib::Request& req, httplib::Response& res) {
  if (auto id = cookie_value(req.get_header_value("Cookie"), session_cookie)) checks.sessions().end(*id);
  res.set_header("Set-Cookie", cookie("", 0));
  res.set_header("Cache-Control", "no-store");
  send_json(res, 200, json{{"ok", true}});
}

const web_file* web_file_for(std::string_view path) {
  std::string_view name;
  if (path == "/") name = "index.html";
  else if (path.starts_with("/assets/")) name = path.substr(8);
  else return nullptr;
  if (path != "/" && name == "index.html") return nullptr;  // one address for the page
  for (const web_file& f : web_files())
    if (name == f.name) return &f;
  return nullptr;
}

bool is_session_path(std::string_view path) { return path == "/session" || path == "/session/end"; }

}  // namespace dairector::cli::http
