#include "cli/http_pump.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace dairector::cli::http {

namespace {

constexpr auto poll_wait_max = 1000ms;
constexpr std::string_view keepalive_frame = ": keepalive\n\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";

// One chunk of the chunked body: its size in hex, CRLF, the bytes, CRLF.
void add_chunk(std::string& out, std::string_view bytes) {
  if (bytes.empty()) return;  // an empty chunk would end the body
  char size[20];
  const int n = std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  out.append(size, static_cast<std::size_t>(n));
  out.append(bytes);
  out += "\r\n";
}

}  // namespace

struct stream_pump::stream {
  std::unique_ptr<connection> c;
  std::shared_ptr<stream_feed> feed;
  std::string out;                 // chunked bytes not yet sent
  std::size_t sent = 0;            // of `out`
  bool ending = false;             // the last chunk is in `out`: close once it is sent
  bool gone = false;               // drop it
  std::size_t input = 0;           // bytes the client sent on the stream
  steady::time_point written;      // when a frame last went into `out`
  steady::time_point stuck_since;  // when a send last made progress while bytes waited
};

stream_pump::stream_pump(pump_config cfg) : cfg_(cfg) {}

stream_pump::~stream_pump() { stop(); }

void stream_pump::start() {
  if (thread_.joinable()) return;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

void stream_pump::stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    wake();
    thread_.join();
  }
  {
    std::lock_guard<std::mutex> lock(m_);
    open_ -= adopted_.size();
    adopted_.clear();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

void stream_pump::adopt(std::unique_ptr<connection> c, std::shared_ptr<stream_feed> feed) {
  auto s = std::make_unique<stream>();
  s->c = std::move(c);
  s->feed = std::move(feed);
  s->written = s->stuck_since = steady::now();
  {
    std::lock_guard<std::mutex> lock(m_);
    if (stopping_) return;  // the connection closes with `s`
    ++open_;
    adopted_.push_back(std::move(s));
  }
  wake();
}

void stream_pump::wake() {
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

// Asks the feed for more while little waits to be sent; an idle stream
// gets a keepalive comment.
void stream_pump::fill(stream& s, steady::time_point now) {
  if (s.ending || s.out.size() - s.sent >= cfg_.out_bytes_max) return;
  std::string body;
  const bool more = s.feed->take(body);
  if (s.sent > 0 && s.sent == s.out.size()) {
    s.out.clear();
    s.sent = 0;
  }
  if (!body.empty()) {
    add_chunk(s.out, body);
    s.written = now;
  } else if (more && now - s.written >= cfg_.keepalive) {
    add_chunk(s.out, keepalive_frame);
    s.written = now;
  }
  if (!more) {
    s.out += last_chunk;
    s.ending = true;
  }
}

// Sends what waits, without blocking. False: the connection is over.
bool stream_pump::flush(stream& s, steady::time_point now) {
  while (s.sent < s.out.size()) {
    const ssize_t n = ::send(s.c->fd, s.out.data() + s.sent, s.out.size() - s.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      s.sent += static_cast<std::size_t>(n);
      s.stuck_since = now;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return now - s.stuck_since < cfg_.write_wait;
    return false;
  }
  s.stuck_since = now;
  if (s.sent > 0 && s.sent == s.out.size()) {
    s.out.clear();
    s.sent = 0;
  }
  return !s.ending;  // all of it sent: an ended stream closes now
}

void stream_pump::run() {
  std::vector<std::unique_ptr<stream>> streams;
  std::vector<pollfd> fds;
  while (!stopping_) {
    {
      std::lock_guard<std::mutex> lock(m_);
      for (auto& s : adopted_) streams.push_back(std::move(s));
      adopted_.clear();
    }
    auto now = steady::now();
    // Every feed is asked at every turn (a wake, a socket that takes more,
    // a keepalive due): asking one with nothing new costs a lock.
    for (auto& s : streams) {
      if (s->gone) continue;
      fill(*s, now);
      if (!flush(*s, now)) s->gone = true;
    }
    const auto before = streams.size();
    std::erase_if(streams, [](const auto& s) { return s->gone; });
    open_ -= before - streams.size();

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    auto until = now + poll_wait_max;
    for (const auto& s : streams) {
      const bool waiting = s->sent < s->out.size();
      fds.push_back({s->c->fd, static_cast<short>(POLLIN | (waiting ? POLLOUT : 0)), 0});
      until = std::min(until, waiting ? s->stuck_since + cfg_.write_wait : s->written + cfg_.keepalive);
    }
    if (::poll(fds.data(), fds.size(), ms_until(until)) < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      std::uint64_t n;
      [[maybe_unused]] const auto got = ::read(wake_fd_, &n, sizeof n);
    }
    for (std::size_t i = 0; i < streams.size(); ++i) {
      const short ev = fds[i + 1].revents;
      if (ev & (POLLERR | POLLNVAL)) streams[i]->gone = true;
      if (!(ev & (POLLIN | POLLHUP))) continue;
      // A client says nothing on a stream: what it sends is dropped, and
      // its end (or an error) ends the stream.
      char scratch[4096];
      const ssize_t n = ::recv(streams[i]->c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
      if (n > 0) streams[i]->input += static_cast<std::size_t>(n);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || streams[i]->input > cfg_.input_bytes_max)
        streams[i]->gone = true;
    }
  }
  // Stopping: each stream gets its last chunk if its socket takes it at once.
  for (auto& s : streams) {
    if (!s->ending) s->out += last_chunk;
    ::send(s->c->fd, s->out.data() + s->sent, s->out.size() - s->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  open_ -= streams.size();
}

}  // namespace dairector::cli::http
