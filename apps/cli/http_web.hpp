// The web view (docs/web.md): the page and its assets, built into the
// program (cmake/embed_web.cmake turns web/dist into web_files()), and
// signing in with the token for a session cookie (http_session.hpp).
//   GET /               index.html
//   GET /assets/NAME    the bundle's other files
//   POST /session       {"token": ...} -> the cookie; a wrong token 401
//   POST /session/end   drops the session and clears the cookie
// The static files and the two session routes need no token (the guard lets
// them pass: http_guard.cpp); the rules for changes (Content-Type, Origin)
// still hold for the session routes.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <span>
#include <string_view>

namespace dairector::cli::http {

class guard;

/// One file of web/dist, embedded.
struct web_file {
  const char* name;  // "index.html", "app.js"
  const char* type;  // its Content-Type
  const char* etag;  // a quoted prefix of its SHA-256
  const unsigned char* bytes;
  std::size_t size;
};

/// Every embedded file (generated: web_assets.cpp).
std::span<const web_file> web_files();

/// The embedded file a GET of `path` answers ("/" -> index.html,
/// "/assets/NAME" -> NAME), or nullptr.
const web_file* web_file_for(std::string_view path);

/// Whether `path` is one of the session routes (POST, no token needed).
bool is_session_path(std::string_view path);

/// The routes above, for the API's route table (http_api.cpp). The session
/// routes keep their table in `checks` (made when the port is bound).
void serve_web_file(const httplib::Request& req, httplib::Response& res);  // GET / and /assets/NAME
void sign_in(const guard& checks, const httplib::Request& req, httplib::Response& res);   // POST /session
void sign_out(const guard& checks, const httplib::Request& req, httplib::Response& res);  // POST /session/end

}  // namespace dairector::cli::http
