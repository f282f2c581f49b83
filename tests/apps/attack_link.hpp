// The attacker's byte stream to a server (tests/apps/attacker.cpp): a TCP
// socket, with TLS on it or not. An attacker never checks the server's
// certificate; every wait is bounded by the deadline it is given.
#pragma once

#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

using clock_type = std::chrono::steady_clock;

class peer_link {
 public:
  ~peer_link() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  // Connects to HOST:PORT, with TLS if `tls` or a certificate is given; `why`
  // says what failed.
  bool open(const std::string& address, bool tls, const std::string& cert, const std::string& key,
            std::uint32_t timeout_ms, std::string& why) {
    const auto colon = address.rfind(':');
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (colon == std::string::npos ||
        ::getaddrinfo(address.substr(0, colon).c_str(), address.substr(colon + 1).c_str(), &hints, &found) != 0)
      return why = "bad_address", false;
    fd_ = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
    const bool connected = fd_ >= 0 && ::connect(fd_, found->ai_addr, found->ai_addrlen) == 0;
    ::freeaddrinfo(found);
    if (!connected) return why = "connect_failed", false;
    // A backstop for blocking reads and writes inside OpenSSL.
    timeval tv{static_cast<time_t>(timeout_ms / 1000), static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (!tls && cert.empty()) return true;
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return why = "tls_context", false;
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    if (!cert.empty() && (SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str()) != 1 ||
                            SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) != 1))
      return why = "tls_bad_credential", false;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) return why = "tls_handshake_failed", false;
    return true;
  }
  bool write_all(const char* p, std::size_t n) {
    while (n > 0) {
      const long k = ssl_ ? SSL_write(ssl_, p, static_cast<int>(std::min<std::size_t>(n, 1 << 20)))
                          : ::send(fd_, p, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<std::size_t>(k);
    }
    return true;
  }
  // Reads exactly n bytes before the deadline: "" when done, else why not
  // ("closed" or "timeout").
  std::string read_exact(char* p, std::size_t n, clock_type::time_point deadline) {
    while (n > 0) {
      if (!ssl_ || SSL_pending(ssl_) == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
        pollfd pfd{fd_, POLLIN, 0};
        if (left <= 0 || ::poll(&pfd, 1, static_cast<int>(left)) <= 0) return "timeout";
      }
      const long k = ssl_ ? SSL_read(ssl_, p, static_cast<int>(n)) : ::recv(fd_, p, n, 0);
      if (k <= 0) return "closed";
      p += k;
      n -= static_cast<std::size_t>(k);
    }
    return "";
  }

 private:
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

