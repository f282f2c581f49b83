#include "dairector/actors/secret.hpp"

#include <pthread.h>
#include <sys/random.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace dairector::actors {

namespace {

bool from_getrandom(unsigned char* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t k = ::getrandom(out + got, n - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    got += static_cast<std::size_t>(k);
  }
  return true;
}

bool from_urandom(unsigned char* out, std::size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(n));
  return in.gcount() == static_cast<std::streamsize>(n);
}

// Forks of this process so far, as the child counts them: a child's pools
// were drawn by its parent. A counter, not the pid: getpid is a system call
// on every draw (glibc keeps no copy), 2.5% of a 1,000-pipeline run's CPU.
std::atomic<unsigned> forks{0};

unsigned fork_generation() {
  static const bool counting = [] {
    ::pthread_atfork(nullptr, nullptr, [] { forks.fetch_add(1, std::memory_order_relaxed); });
    return true;
  }();
  (void)counting;
  return forks.load(std::memory_order_relaxed);
}

// The calling thread's random bytes: drawn from the kernel a block at a
// time, each byte handed out once and wiped. A child forked after the draw
// draws anew rather than repeat its parent's bytes.
class random_pool {
public:
  void take(unsigned char* out, std::size_t n) {
    if (drawn_in_ != fork_generation() || used_ + n > sizeof block_) refill();
    std::copy_n(block_ + used_, n, out);
    std::fill_n(block_ + used_, n, 0);
    used_ += n;
  }

private:
  void refill() {
    if (!from_getrandom(block_, sizeof block_) && !from_urandom(block_, sizeof block_)) {
      std::fputs("dairector: cannot read random bytes (getrandom and /dev/urandom both failed); stopping\n", stderr);
      std::abort();
    }
    drawn_in_ = fork_generation();
    used_ = 0;
  }
  unsigned char block_[4096] = {};
  std::size_t used_ = sizeof block_;
  unsigned drawn_in_ = ~0u;  // the fork generation whose process drew block_
};

void random_bytes(unsigned char* out, std::size_t n) {
  thread_local random_pool pool;
  pool.take(out, n);
}

}  // namespace

std::uint64_t random_u64() {
  unsigned char bytes[8];
  random_bytes(bytes, sizeof bytes);
  std::uint64_t v = 0;
  for (unsigned char b : bytes) v = (v << 8) | b;
  return v;
}

std::string random_secret() {
  unsigned char bytes[secret_bytes];
  random_bytes(bytes, sizeof bytes);
  static const char digits[] = "0123456789abcdef";
  std::string out(2 * sizeof bytes, '0');
  for (std::size_t i = 0; i < sizeof bytes; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  std::fill_n(bytes, sizeof bytes, 0);
  return out;
}

bool tokens_equal(const std::string& a, const std::string& b) {
  // Every byte of the longer is looked at, whatever the first difference.
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

}  // namespace dairector::actors
