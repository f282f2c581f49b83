// The message size bound of the worker port.
//
// CAF 0.17's network layer reads a 32-byte BASP header, then allocates the
// whole payload the header announces (up to 4 GiB) before any code of ours
// sees the message, and it has no setting to bound it. A peer that proved it
// holds the worker credential could make `serve` allocate that much per
// message. So the bytes a worker sends are framed here as they are read, and
// the connection is refused the moment a header announces more than the
// bound: CAF never sees that header.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dairector/json_bounds.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace dairector::cli {

/// The largest message a worker may send: a result carries one output (at
/// most json_value_bytes_max) and a bounded error sentence; 1 MiB is left for
/// the rest (names, framing).
inline constexpr std::uint32_t worker_message_bytes_max = json_value_bytes_max + (1u << 20);

/// Follows a BASP byte stream (header, payload, header, ...) as it is read.
class basp_frames {
 public:
  static constexpr std::size_t header_bytes = 32;  // caf::io::basp::header_size
  static constexpr std::size_t payload_len_offset = 4;  // after operation, two pads, flags

  explicit basp_frames(std::uint32_t payload_bytes_max) : max_(payload_bytes_max) {}

  /// Takes the next `n` bytes of the stream. False once a header announced a
  /// payload over the bound (and ever after: the connection must go).
  bool feed(const unsigned char* data, std::size_t n);

  /// The payload size the refused header announced (0 while none was refused).
  std::uint64_t refused_bytes() const noexcept { return refused_; }

 private:
  std::uint32_t max_;
  unsigned char header_[header_bytes] = {};
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;
  std::uint64_t refused_ = 0;
};

/// For the TLS read wrapper (tls_error_queue.cpp): feeds `n` bytes just read
/// on the server side of `ssl` into that connection's basp_frames (made on
/// its first read, freed with the connection). False: the connection must go;
/// the refusal is counted and reported through the hook below.
bool inbound_within_bound(ssl_st* ssl, const void* data, int n);

/// Called once per refused connection with the announced payload size (on
/// CAF's network thread). serve logs it; null: nothing is said.
void set_oversize_hook(void (*hook)(std::uint64_t announced_bytes));

}  // namespace dairector::cli
