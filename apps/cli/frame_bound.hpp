// The worker port's frame checks: a message size bound, and only the BASP
// operations a worker sends.
//
// CAF 0.17's network layer reads a 32-byte BASP header, then allocates the
// whole payload the header announces (up to 4 GiB) before any code of ours
// sees the message, and it has no setting to bound it. And a connected peer
// may send "routed" messages whose source node and actor it writes itself,
// or ask the server to forward messages to another node (a worker). So the
// bytes a worker sends are framed here as they are read, and the connection
// is refused the moment a header announces more than the bound or an
// operation no worker sends: CAF never sees that header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "dairector/json_bounds.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace dairector::cli {

/// The largest message a worker may send: a result carries one output (at
/// most json_value_bytes_max) and a bounded error sentence; 1 MiB is left for
/// the rest (names, framing).
inline constexpr std::uint32_t worker_message_bytes_max = json_value_bytes_max + (1u << 20);

/// Follows a BASP byte stream (header, payload, header, ...) from a worker
/// as it is read. A worker's stream is its handshake, then direct messages,
/// monitor and down messages and heartbeats (caf/io/basp/message_type.hpp);
/// it is connected to the server alone, so it never routes a message.
class basp_frames {
 public:
  static constexpr std::size_t header_bytes = 32;       // caf::io::basp::header_size
  static constexpr std::size_t payload_len_offset = 4;  // after operation, two pads, flags

  enum class refusal : std::uint8_t { none, oversize, operation };

  explicit basp_frames(std::uint32_t payload_bytes_max) : max_(payload_bytes_max) {}

  /// Takes the next `n` bytes of the stream. False once a header was refused
  /// (and ever after: the connection must go).
  bool feed(const unsigned char* data, std::size_t n);

  refusal refused() const noexcept { return refused_; }
  /// What the refused header was, in a sentence ("" while none was refused).
  std::string why() const;

 private:
  void check_header();

  std::uint32_t max_;
  unsigned char header_[header_bytes] = {};
  std::size_t header_have_ = 0;
  std::uint64_t payload_left_ = 0;
  std::uint64_t headers_ = 0;  // complete headers so far
  refusal refused_ = refusal::none;
  std::uint32_t refused_len_ = 0;
  std::uint8_t refused_op_ = 0;
};

/// For the TLS read wrapper (tls_error_queue.cpp): feeds `n` bytes just read
/// on the server side of `ssl` into that connection's basp_frames (made on
/// its first read, freed with the connection). False: the connection must go;
/// the refusal is reported once through the hook below.
bool inbound_within_bound(ssl_st* ssl, const void* data, int n);

/// Called once per refused connection with basp_frames::why() (on CAF's
/// network thread). serve logs it; null: nothing is said.
void set_refusal_hook(void (*hook)(const std::string& why));

}  // namespace dairector::cli
