#include "cli/net_args.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <cerrno>
#include <cctype>
#include <cstring>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/credentials.hpp"
#include "cli/tls_error_queue.hpp"
#include "dairector/actors/messages.hpp"
#include "dairector/file_read.hpp"

namespace dairector::cli {

namespace {
constexpr std::size_t token_file_bytes_max = 4096;  // a token is one short line
}  // namespace

bool is_loopback(std::string_view host) {
  if (host.starts_with("::ffff:")) host.remove_prefix(7);  // IPv4 mapped into IPv6
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string s; std::getline(in, s, ',');)
    if (!s.empty() && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

result<endpoint> parse_endpoint(const std::string& text, bool allow_remote, const char* what) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return make_error(errc::refused, std::string(what) + " '" + text + "' is not HOST:PORT");
  endpoint ep;
  ep.host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return make_error(errc::refused, std::string(what) + " '" + text + "': the port must be 0 to 65535");
  ep.port = static_cast<std::uint16_t>(std::stoul(port));
  if (!allow_remote && !is_loopback(ep.host))
    return make_error(errc::refused, std::string(what) + " '" + text +
                                         "' is not a loopback address; pass --allow-remote to listen or connect "
                                         "beyond this host (see the README's threat model)");
  return ep;
}

std::string default_token_file() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg == '/') return std::string(xdg) + "/dairector/token";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.config/dairector/token";
  return {};
}

result<std::string> read_token(const std::string& given, bool create) {
  const std::string path = given.empty() ? default_token_file() : given;
  if (path.empty())
    return make_error(errc::refused, "--token-file is required: neither $XDG_CONFIG_HOME nor $HOME is set, so there "
                                     "is no default token file");
  if (create && ::access(path.c_str(), F_OK) != 0) {
    // The folder of a token nobody else may read is nobody else's either.
    const std::filesystem::path folder = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!folder.empty() && !std::filesystem::exists(folder, ec)) {
      std::filesystem::create_directories(folder, ec);
      if (!ec) std::filesystem::permissions(folder, std::filesystem::perms::owner_all, ec);
      if (ec) return make_error(errc::refused, "cannot create the folder " + folder.string() + " for the token file: " +
                                                   ec.message());
    }
    unsigned char raw[32];
    std::ifstream urandom("/dev/urandom", std::ios::binary);
    if (!urandom.read(reinterpret_cast<char*>(raw), sizeof raw))
      return make_error(errc::refused, "cannot read /dev/urandom for a new token");
    static const char* hex = "0123456789abcdef";
    std::string token;
    for (unsigned char c : raw) {
      token += hex[c >> 4];
      token += hex[c & 15];
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return make_error(errc::refused, "cannot create token file " + path + ": " + std::strerror(errno));
    const std::string line = token + "\n";
    const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    ::close(fd);
    if (!written) return make_error(errc::refused, "cannot write token file " + path);
  }
  struct stat sb{};
  if (::stat(path.c_str(), &sb) != 0)
    return make_error(errc::refused, "cannot read token file " + path + ": " + std::strerror(errno));
  if (sb.st_mode & 077)
    return make_error(errc::refused, "token file " + path + " is readable by others; `chmod 600 " + path + "`");
  // Bounded, and only a regular file: a FIFO or a device is refused unread.
  auto text = read_file(path, token_file_bytes_max, "the token file", errc::refused);
  if (!text) return text.err();
  std::string token = text->substr(0, text->find('\n'));
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.erase(0, 1);
  if (token.size() < 16) return make_error(errc::refused, "token file " + path + " holds no token of 16+ characters");
  return token;
}

void add_net_options(CLI::App* cmd, net_args& args, const char* timeout_flag, const char* timeout_help) {
  cmd->add_option("--token-file", args.token_file,
                  "The shared secret of workers and HTTP clients, its first line (default: "
                  "$XDG_CONFIG_HOME/dairector/token, else ~/.config/dairector/token)");
  cmd->add_flag("--allow-remote", args.allow_remote, "Allow an address beyond loopback");
  cmd->add_option("--credentials", args.credentials,
                  "Mutual TLS on the worker port: the credentials folder (serve: the one holding server/ and "
                  "worker/, made when missing; worker: a copy of its worker/ folder). Default: credentials/ "
                  "beside the token file (worker: credentials/worker)");
  cmd->add_flag("--insecure-plain-tcp", args.insecure_plain_tcp,
                "Plain TCP on the worker port instead of mutual TLS: loopback only, and any local user can then "
                "act as a worker");
  cmd->add_option("--tls-cert", args.tls_cert, "An own PKI instead of --credentials: this side's certificate (PEM)");
  cmd->add_option("--tls-key", args.tls_key, "An own PKI: this side's private key (PEM)");
  cmd->add_option("--tls-ca", args.tls_ca, "An own PKI: the CA that signed the other side's certificate (PEM)");
  cmd->add_option("--heartbeat-ms", args.heartbeat_ms, "Network heartbeat interval, ms (0: off)")
      ->check(CLI::Range(0, 3'600'000));
  cmd->add_option(timeout_flag, args.timeout_ms, timeout_help)->check(CLI::Range(0, 3'600'000));
}

namespace {

// Which files prove this side, or why none can be used.
result<tls_files> pick_credentials(const net_args& args, net_side side) {
  if (args.own_pki()) {
    if (!args.credentials.empty())
      return make_error(errc::refused, "--credentials and --tls-cert/--tls-key/--tls-ca name two different sets of "
                                       "certificates; pass one");
    if (args.tls_cert.empty() || args.tls_key.empty() || args.tls_ca.empty())
      return make_error(errc::refused, "TLS needs --tls-cert, --tls-key and --tls-ca together (both sides prove "
                                       "who they are with a certificate signed by that CA)");
    return own_credentials(tls_files{args.tls_ca, args.tls_cert, args.tls_key});
  }
  if (side == net_side::server)
    return server_credentials(args.credentials.empty() ? default_credentials_dir(args.token_file) : args.credentials);
  const std::string beside = default_credentials_dir(args.token_file);
  return worker_credentials(!args.credentials.empty() ? args.credentials
                                                      : beside.empty() ? beside : beside + "/worker");
}

}  // namespace

std::optional<error> configure_network(caf::actor_system_config& cfg, const net_args& args, net_side side,
                                       const std::string& host) {
  actors::configure_system(cfg);
  cfg.set("logger.console", caf::atom("none"));
  cfg.load<caf::io::middleman>();
  // A hung peer (SIGSTOP: the socket stays open) is only noticed through
  // heartbeats, which CAF leaves off by default (docs/contributing.md#the-network-layer).
  cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(args.heartbeat_ms)});
  cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::milliseconds(args.timeout_ms)});
  if (args.insecure_plain_tcp) {
    if (args.own_pki() || !args.credentials.empty())
      return make_error(errc::refused, "--insecure-plain-tcp uses no certificates; drop it, or drop --credentials "
                                       "and --tls-cert/--tls-key/--tls-ca");
    // Beyond this host a plain port is open to the network, token or not.
    if (!is_loopback(host))
      return make_error(errc::refused, "--insecure-plain-tcp is for loopback only, and '" + host +
                                           "' is not a loopback address; drop it to use mutual TLS");
    return std::nullopt;
  }
  auto files = pick_credentials(args, side);
  if (!files) return files.err();
  if (!tls_error_queue_cleared())
    return make_error(errc::refused, "this build cannot run mutual TLS safely: its OpenSSL wrappers "
                                     "(apps/cli/tls_error_queue.cpp) are not the functions CAF calls");
  // CAF then asks for a certificate signed by this CA on both sides
  // (docs/design.md#who-may-connect says what that was measured to refuse).
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = files->cert;
  cfg.openssl_key = files->key;
  cfg.openssl_cafile = files->ca;
  return std::nullopt;
}

void hide_utility_actors(caf::actor_system& sys) {
  for (auto name : {caf::atom("SpawnServ"), caf::atom("ConfigServ")}) sys.registry().erase(name);
}

}  // namespace dairector::cli
