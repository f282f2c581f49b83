// A clean OpenSSL error queue before every TLS read, write and handshake step
// of CAF's OpenSSL module.
//
// OpenSSL classifies a failed call by the calling thread's error queue
// (SSL_get_error returns SSL_ERROR_SSL whenever the queue holds anything), and
// asks the caller to empty it before each call. CAF 0.17's session never does:
// all connections share the middleman's one thread, so an error left by one
// connection (a refused handshake, a peer killed mid-stream) makes the next
// "would block" on another connection look fatal, and CAF closes that one too.
// Measured: each refused cert-less handshake disconnected a healthy worker,
// and a SIGKILLed worker took another worker's connection with it.
//
// The fix: this program defines the four functions CAF calls; the dynamic
// linker binds CAF's calls to these (the program comes first in symbol
// lookup), and each empties the queue and calls OpenSSL's own.
#include <dlfcn.h>

#include <cstdlib>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cli/frame_bound.hpp"
#include "cli/tls_error_queue.hpp"

namespace {

template <class F>
F next(const char* name) {
  // A missing OpenSSL function cannot be worked around: stop loudly.
  void* f = ::dlsym(RTLD_NEXT, name);
  if (!f) ::abort();
  return reinterpret_cast<F>(f);
}

}  // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto real = next<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  const int n = real(ssl, buf, num);
  // What a worker sends to the server is framed as it is read
  // (frame_bound.hpp): a header announcing more than the bound fails the read
  // before CAF sees it, and CAF closes the connection.
  if (n > 0 && SSL_is_server(ssl) == 1 && !dairector::cli::inbound_within_bound(ssl, buf, n)) {
    ERR_raise(ERR_LIB_SSL, SSL_R_EXCESSIVE_MESSAGE_SIZE);
    return -1;
  }
  return n;
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto real = next<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto real = next<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto real = next<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

}  // extern "C"

namespace dairector::cli {

bool tls_error_queue_cleared() {
  // The program's definitions are the ones every library's calls reach.
  return ::dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read) &&
         ::dlsym(RTLD_DEFAULT, "SSL_accept") == reinterpret_cast<void*>(&SSL_accept);
}

}  // namespace dairector::cli
