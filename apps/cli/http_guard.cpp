#include "cli/http_guard.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "cli/http_connection.hpp"
#include "cli/http_web.hpp"
#include "cli/net_args.hpp"
#include "dairector/actors/registry.hpp"

namespace dairector::cli::http {

namespace {

// An address literal cannot be re-pointed by DNS: only names can rebind.
bool is_address_literal(const std::string& host) {
  unsigned char buf[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    return ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1;
}

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "[::]" || host.empty(); }

// The media type of a Content-Type value, without parameters, lower case.
std::string media_type(std::string_view value) { return lower(trim(value.substr(0, value.find(';')))); }

// Host and Origin as they appear in sentences: short and free of control bytes.
std::string shown(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, 80)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return out + (text.size() > 80 ? "...'" : "'");
}

}  // namespace

std::optional<authority> parse_authority(std::string_view text, std::uint16_t default_port) {
  authority a;
  std::optional<std::string_view> port;
  if (text.starts_with("[")) {  // [v6] or [v6]:port
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.host = lower(text.substr(0, close + 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    const auto colon = text.find(':');
    a.host = lower(text.substr(0, colon));
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
  }
  const bool bracketed = a.host.starts_with("[");
  const bool host_ok = a.host.size() > (bracketed ? 2u : 0u) &&
                       std::all_of(a.host.begin() + (bracketed ? 1 : 0), a.host.end() - (bracketed ? 1 : 0), [&](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
                                (bracketed ? c == ':' : c == '_');
                       });
  if (!host_ok) return std::nullopt;
  a.port = default_port;
  if (port) {
    if (port->empty() || port->size() > 5 || port->find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    const unsigned long n = std::stoul(std::string(*port));
    if (n == 0 || n > 65535) return std::nullopt;
    a.port = static_cast<std::uint16_t>(n);
  }
  return a;
}

result<guard> guard::make(guard_config cfg) {
  guard g(std::move(cfg));
  const std::string host = lower(g.cfg_.bound_host);
  g.bound_ = host.find(':') != std::string::npos && !host.starts_with("[") ? "[" + host + "]" : host;
  g.wildcard_ = is_wildcard(g.bound_);
  g.loopback_ = is_loopback(host);
  auto names = parse_names(g.cfg_.names);
  if (!names) return names.err();
  g.names_ = std::move(*names);
  g.sessions_ = std::make_shared<session_table>(g.cfg_.token, session_lifetime_from_env());
  return g;
}

result<std::vector<authority>> parse_names(const std::vector<std::string>& names) {
  std::vector<authority> out;
  for (const std::string& name : names) {
    auto a = parse_authority(name, 0);
    if (!a) return make_error(errc::refused, "--http-host '" + name + "' is not NAME or NAME:PORT");
    out.push_back(std::move(*a));
  }
  return out;
}

bool guard::names_this_server(const authority& a) const {
  for (const authority& n : names_)
    if (n.host == a.host && (n.port == 0 || n.port == a.port)) return true;
  if (a.port != cfg_.port) return false;
  if (a.host == bound_) return true;
  // Bound to loopback (or to every address): the loopback names reach it too.
  if ((loopback_ || wildcard_) && (a.host == "localhost" || a.host == "127.0.0.1" || a.host == "[::1]")) return true;
  // Bound to every address: any address literal may be one of this host's.
  return wildcard_ && is_address_literal(a.host);
}

std::string guard::accepted_hosts() const {
  const std::string port = ":" + std::to_string(cfg_.port);
  std::string out;
  auto add = [&](const std::string& text) { out += (out.empty() ? "" : ", ") + text; };
  if (wildcard_) add("any of this host's addresses" + port);
  else add(bound_ + port);
  if ((loopback_ || wildcard_) && bound_ != "localhost") add("localhost" + port);
  if (loopback_ && bound_ != "127.0.0.1") add("127.0.0.1" + port);
  if (loopback_ && bound_ != "[::1]") add("[::1]" + port);
  for (const std::string& name : cfg_.names) add(name);
  return out;
}

bool guard::token_matches(const std::string& given) const {
  return !cfg_.token.empty() && actors::tokens_equal(given, cfg_.token);
}

std::optional<std::string> guard::authenticate(const httplib::Request& req) const {
  // 1. `Authorization: Bearer TOKEN` (the scheme's name in any case, RFC 7235).
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view scheme = "bearer ";
  if (header.size() > scheme.size() && lower(std::string_view(header).substr(0, scheme.size())) == scheme) {
    const std::string_view given = trim(std::string_view(header).substr(scheme.size()));
    if (token_matches(std::string(given))) return "token";
  }
  // 2. The web view's session cookie (POST /session made it). A browser
  // sends it with any request to this server, a cross-site one too where
  // SameSite does not hold: which is why the rules for changes below apply
  // to it as they do to the token.
  if (req.has_header("Cookie"))
    if (auto id = cookie_value(req.get_header_value("Cookie"), session_cookie); id && sessions_->valid(*id))
      return "session";
  return std::nullopt;
}

std::optional<denial> guard::check(const httplib::Request& req) const {
  const bool reads = req.method == "GET" || req.method == "HEAD";
  if (reads && (req.path == "/healthz" || req.path == "/healthz/")) return std::nullopt;

  const std::string host = req.get_header_value("Host");
  const auto named = parse_authority(host, 80);
  if (!named || !names_this_server(*named))
    return denial{421,
                   (host.empty() ? std::string("the request has no Host header") : "Host " + shown(host) +
                                                                                         " does not name this server") +
                       "; it answers to " + accepted_hosts() +
                       " (a page that reaches it through another name, as DNS rebinding does, is refused; serve "
                       "--http-host adds a name)",
                   {}};

  // The page and its assets show nothing without a token, and signing in is
  // how a browser proves it has one.
  const bool open = (reads && web_file_for(req.path)) || (req.method == "POST" && is_session_path(req.path));
  if (!open && !authenticate(req))
    return denial{401,
                   req.has_header("Authorization") ? "wrong token: send `Authorization: Bearer TOKEN` with the server's token"
                   : cookie_value(req.get_header_value("Cookie"), session_cookie)
                       ? "not signed in (the session ended or expired): sign in again, or send `Authorization: "
                         "Bearer TOKEN`"
                       : "send `Authorization: Bearer TOKEN` with the server's token (the first line of its "
                         "--token-file), or sign in for a session cookie (POST /session): every request but GET "
                         "/healthz needs it, on loopback too",
                   {{"WWW-Authenticate", "Bearer"}}};

  if (!reads) {
    const std::string type = req.get_header_value("Content-Type");
    if (media_type(type) != "application/json")
      return denial{403,
                     req.method + " needs `Content-Type: application/json`" +
                         (type.empty() ? std::string(", and none was sent") : ", not " + shown(type)) +
                         " (a cross-site form cannot send it, so a request that changes something must)",
                     {}};
    if (req.has_header("Origin")) {
      const std::string origin = req.get_header_value("Origin");
      std::optional<authority> from;
      if (origin.starts_with("http://")) from = parse_authority(std::string_view(origin).substr(7), 80);
      else if (origin.starts_with("https://")) from = parse_authority(std::string_view(origin).substr(8), 443);
      if (!from || !names_this_server(*from))
        return denial{403,
                       "Origin " + shown(origin) +
                           " is not this server's own: a page of another site may not change anything here",
                       {}};
    }
  }

  if (req.has_header("Content-Length")) {
    const std::string length = req.get_header_value("Content-Length");
    // (The listener already refused a Content-Length that is not a number.)
    const bool too_large = length.empty() || length.size() > 19 ||
                           length.find_first_not_of("0123456789") != std::string::npos ||
                           std::stoull(length) > cfg_.body_bytes_max;
    if (too_large)
      return denial{413, "the body is larger than " + std::to_string(cfg_.body_bytes_max >> 20) + " MiB", {}};
  }
  return std::nullopt;
}

}  // namespace dairector::cli::http
