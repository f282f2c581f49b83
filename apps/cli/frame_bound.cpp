#include "cli/frame_bound.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace dairector::cli {

bool basp_frames::feed(const unsigned char* data, std::size_t n) {
  while (refused_ == 0 && n > 0) {
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
    // CAF writes integers in network byte order.
    const unsigned char* p = header_ + payload_len_offset;
    const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                              (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
    if (len > max_) refused_ = len;
    else payload_left_ = len;
  }
  return refused_ == 0;
}

namespace {

std::atomic<void (*)(std::uint64_t)> oversize_hook{nullptr};

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
  const bool refused_before = frames->refused_bytes() > 0;
  if (frames->feed(static_cast<const unsigned char*>(data), static_cast<std::size_t>(n))) return true;
  if (!refused_before)
    if (auto hook = oversize_hook.load()) hook(frames->refused_bytes());
  return false;
}

void set_oversize_hook(void (*hook)(std::uint64_t)) { oversize_hook.store(hook); }

}  // namespace dairector::cli
