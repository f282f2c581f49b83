// What `serve` and `worker` share: HOST:PORT addresses (loopback unless
// allowed), the token file, and the CAF network configuration (middleman,
// heartbeats, mutual TLS through CAF's OpenSSL module).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>

#include "dairector/result.hpp"

namespace dairector::cli {

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
};

/// "HOST:PORT" (port 0: the system picks one). A host that is not loopback
/// (127.0.0.0/8, ::1, localhost) is refused unless `allow_remote`.
result<endpoint> parse_endpoint(const std::string& text, bool allow_remote, const char* what);

/// True for 127.0.0.0/8 (also mapped into IPv6, ::ffff:127.x), ::1 and localhost.
bool is_loopback(std::string_view host);

/// "a,b,a," -> {"a", "b"}: the items of a comma list, once each, in order.
std::vector<std::string> split_list(const std::string& list);

/// Where `serve`, `worker` and the CLI's --server look for the token when
/// --token-file is not given: $XDG_CONFIG_HOME/dairector/token, else
/// $HOME/.config/dairector/token (empty when neither variable is set).
std::string default_token_file();

/// The shared secret: the file's first line, trimmed (`path` empty: the
/// default_token_file()). The file must not be readable by group or others.
/// With `create`, a missing file is made with a fresh random token (mode
/// 0600), in a folder made for it (mode 0700) if there is none.
result<std::string> read_token(const std::string& path, bool create);

struct net_args {
  std::string token_file;  // empty: default_token_file()
  bool allow_remote = false;
  std::string credentials;           // empty: <folder of the token file>/credentials (worker: .../worker)
  bool insecure_plain_tcp = false;   // loopback only
  std::string tls_cert, tls_key, tls_ca;  // all three: an own PKI instead of the credentials folder
  std::uint32_t heartbeat_ms = 1000;      // middleman heartbeats (0: off)
  std::uint32_t timeout_ms = 5000;        // a silent peer is down after this (0: never)

  bool own_pki() const { return !tls_cert.empty() || !tls_key.empty() || !tls_ca.empty(); }
  /// How the worker port is reached, for the log: "mutual TLS" or "plain TCP".
  const char* transport() const { return insecure_plain_tcp ? "plain TCP" : "mutual TLS"; }
};

/// Logged once at start by serve and worker under --insecure-plain-tcp.
inline constexpr const char* plain_tcp_warning =
    "WARNING: plain TCP on the worker port: any local user can connect to it and act as a worker; drop "
    "--insecure-plain-tcp to use mutual TLS";

/// Adds --token-file, --allow-remote, --credentials, --insecure-plain-tcp,
/// --tls-cert, --tls-key, --tls-ca, --heartbeat-ms and `timeout_flag` (the
/// peer timeout).
void add_net_options(CLI::App* cmd, net_args& args, const char* timeout_flag, const char* timeout_help);

enum class net_side { server, worker };

/// Loads the middleman with heartbeats and the connection timeout, registers
/// the message types and, unless --insecure-plain-tcp, loads CAF's OpenSSL
/// module with this side's certificate, key and CA: the own PKI's, else the
/// credentials folder's (the server makes a missing one). `host` is the
/// address listened on or connected to. Errors: plain TCP beyond loopback,
/// options that contradict each other, credentials that are missing,
/// incomplete, readable by others or not what they claim.
std::optional<error> configure_network(caf::actor_system_config& cfg, const net_args& args, net_side side,
                                       const std::string& host);

/// CAF's middleman names two actors of its own, the spawn and the config
/// server, so that any connected peer can reach them (the config server
/// stores whatever a peer puts in it). Dairector uses neither: they are
/// taken out of the registry, which is where a peer's lookup finds them.
void hide_utility_actors(caf::actor_system& sys);

}  // namespace dairector::cli
