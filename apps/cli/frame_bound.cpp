#include "cli/frame_bound.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace dairector::cli {

namespace {

// caf::io::basp::message_type
constexpr std::uint8_t op_server_handshake = 0x00, op_client_handshake = 0x01, op_routed_message = 0x03,
                       op_heartbeat = 0x06;

}  // namespace

void basp_frames::check_header() {
  // CAF writes integers in network byte order.
  const unsigned char* p = header_ + payload_len_offset;
  const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
                            std::uint32_t{p[3]};
  const std::uint8_t op = header_[0];
  const bool first = headers_++ == 0;
  // The handshake comes first (CAF's client sends it twice: once on
  // connecting, once answering the server's); a worker never serves a
  // handshake and never routes (a routed message carries a source node and
  // actor the peer writes itself, and asks the server to forward).
  const bool op_ok = first ? op == op_client_handshake
                           : op != op_server_handshake && op != op_routed_message && op <= op_heartbeat;
  if (!op_ok) {
    refused_ = refusal::operation;
    refused_op_ = op;
  } else if (len > max_) {
    refused_ = refusal::oversize;
    refused_len_ = len;
  } else {
    payload_left_ = len;
  }
}

bool basp_frames::feed(const unsigned char* data, std::size_t n) {
  while (refused_ == refusal::none && n > 0) {
    if (payload_left_ > 0) {
      const auto skip = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, n));
      payload_left_ -= skip;
      data += skip;
      n -= skip;
      continue;
    }
    const std::size_t take = std::min(header_bytes - header_have_, n);
    std::memcpy(header_ + header_have_, data, take);
    header_have_ += take;
    data += take;
    n -= take;
    if (header_have_ < header_bytes) break;
    header_have_ = 0;
    check_header();
  }
  return refused_ == refusal::none;
}

std::string basp_frames::why() const {
  switch (refused_) {
    case refusal::none:
      return {};
    case refusal::oversize:
      return "announced a message of " + std::to_string(refused_len_) + " bytes, over the bound of " +
             std::to_string(max_);
    case refusal::operation:
      return "sent BASP operation " + std::to_string(refused_op_) + (headers_ == 1 ? " as its first message" : "") +
             ", which no worker sends (a worker's first message is its handshake; it never routes)";
  }
  return {};
}

namespace {

std::atomic<void (*)(const std::string&)> refusal_hook{nullptr};

void free_frames(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<basp_frames*>(ptr); }

int frames_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_frames);
  return index;
}

}  // namespace

bool inbound_within_bound(ssl_st* ssl, const void* data, int n) {
  const int index = frames_index();
  if (index < 0) return false;  // no room to follow the stream: refuse rather than trust
  auto* frames = static_cast<basp_frames*>(SSL_get_ex_data(ssl, index));
  if (!frames) {
    frames = new basp_frames(worker_message_bytes_max);
    if (SSL_set_ex_data(ssl, index, frames) != 1) {
      delete frames;
      return false;
    }
  }
  const bool refused_before = frames->refused() != basp_frames::refusal::none;
  if (frames->feed(static_cast<const unsigned char*>(data), static_cast<std::size_t>(n))) return true;
  if (!refused_before)
    if (auto hook = refusal_hook.load()) hook(frames->why());
  return false;
}

void set_refusal_hook(void (*hook)(const std::string&)) { refusal_hook.store(hook); }

}  // namespace dairector::cli
