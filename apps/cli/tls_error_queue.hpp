// See tls_error_queue.cpp: why this program wraps CAF's TLS calls so that
// one connection's TLS error cannot close another connection.
#pragma once

namespace dairector::cli {

/// True when the wrappers are the functions CAF's OpenSSL module calls (they
/// are linked into this program and exported to the dynamic linker).
bool tls_error_queue_cleared();

}  // namespace dairector::cli
