// Who may call the HTTP API: the checks every request passes before any
// route runs (httplib's pre-routing handler), so that no handler has to
// remember them. Loopback is not trusted by itself: every local user, and
// every web page a local browser opens, can reach 127.0.0.1. So:
//   - the Host header must name this server (a DNS-rebinding page presents
//     its own name): 421;
//   - the client must prove it holds the server's token (authenticate()):
//     401;
//   - a request that may change something (any method but GET and HEAD)
//     must say `Content-Type: application/json`, which no cross-site form
//     can send without the browser asking first, and an `Origin` it carries
//     must be this server's own: 403;
//   - a declared body over the API's limit: 413, before it is read.
// `GET /healthz` passes without any of them (liveness for probes); the web
// view's static files and its sign-in routes (http_web.hpp) need no token
// (they show nothing and change nothing without one), but the Host rule,
// and for the sign-in routes the rules for changes, still hold.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/http_session.hpp"
#include "dairector/result.hpp"

namespace dairector::cli::http {

/// A host and a port, as a Host header or an Origin names them: the host in
/// lower case, an IPv6 address in brackets.
struct authority {
  std::string host;
  std::uint16_t port = 0;
};

/// "host", "host:port", "[v6]", "[v6]:port" (`default_port` when none).
std::optional<authority> parse_authority(std::string_view text, std::uint16_t default_port);

/// `serve --http-host` values: each NAME or NAME:PORT (port 0: any).
result<std::vector<authority>> parse_names(const std::vector<std::string>& names);

struct guard_config {
  std::string token;         // the server's token (never empty)
  std::string bound_host;    // the address the API listens on, as given ("0.0.0.0", "::": every address)
  std::uint16_t port = 0;    // the bound port
  std::vector<std::string> names;  // --http-host: NAME (any port) or NAME:PORT, names clients may use besides
  std::size_t body_bytes_max = 0;
};

struct denial {
  int status = 0;
  std::string sentence;
  std::vector<std::pair<std::string, std::string>> headers;
};

class guard {
 public:
  /// Errors: a --http-host entry that is not NAME or NAME:PORT.
  static result<guard> make(guard_config cfg);

  /// Why `req` may not go on to its route, or nothing.
  std::optional<denial> check(const httplib::Request& req) const;

  /// Whether host:port names this server (a Host header or an Origin).
  bool names_this_server(const authority& a) const;

  /// What the Host header may say, for sentences: "127.0.0.1:7879, localhost:7879, ...".
  std::string accepted_hosts() const;

  /// Whether `given` is the server's token (in constant time).
  bool token_matches(const std::string& given) const;

  /// The web view's sessions (http_session.hpp): a cookie naming one of
  /// them proves what the token proves.
  session_table& sessions() const { return *sessions_; }

 private:
  explicit guard(guard_config cfg) : cfg_(std::move(cfg)) {}

  /// Who sent the request, or nothing: every way a client can prove it may
  /// call the API is tried here, and only here: the bearer token, or the
  /// web view's session cookie.
  std::optional<std::string> authenticate(const httplib::Request& req) const;

  guard_config cfg_;
  std::string bound_;  // bound_host as a Host header names it (v6 in brackets, lower case)
  bool loopback_ = false, wildcard_ = false;
  std::vector<authority> names_;  // port 0: any port
  std::shared_ptr<session_table> sessions_;  // made with the token (make)
};

}  // namespace dairector::cli::http
