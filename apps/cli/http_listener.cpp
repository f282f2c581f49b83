#include "cli/http_listener.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/http_connection.hpp"

#include <nlohmann/json.hpp>

namespace dairector::cli::http {

namespace {

// Bounds (see the header).
constexpr std::size_t body_bytes_per_extra_second = 64u << 10;
constexpr std::size_t head_bytes_max = 64u << 10;
constexpr std::size_t connections_max = 512;  // keeps descriptors well under FD_SETSIZE, which httplib checks
constexpr std::size_t small_body_bytes_max = 64u << 10;
constexpr std::size_t large_bodies_bytes_max = 64u << 20;
constexpr std::size_t requests_per_connection_max = 100;
constexpr std::size_t recv_bytes_max = 64u << 10;
constexpr std::size_t accepts_per_round_max = 64;
constexpr auto write_wait_max = 5000ms;  // an answer's bytes find no room for this long: the client is gone
constexpr auto linger_time_max = 2s;  // after a refusal, the rest of the request is read and dropped this long
constexpr auto poll_wait_max = 1s;

using connection_ptr = std::unique_ptr<connection>;

// The feed a route handed over while this pool thread answers (answer()).
thread_local std::shared_ptr<stream_feed>* handed = nullptr;

}  // namespace

bool hand_to_pump(std::shared_ptr<stream_feed> feed) {
  if (!handed) return false;
  *handed = std::move(feed);
  return true;
}

struct listener::impl {
  impl(router& rt, listener_config c) : r(rt), cfg(c) {}

  router& r;
  listener_config cfg;
  stream_pump pump{pump_config{write_wait_max}};
  int listen_fd = -1, wake_fd = -1;
  std::thread gate_thread;
  std::vector<std::thread> pool;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> budget{0};  // large-body bytes collected or promised
  std::atomic<std::size_t> busy{0};    // connections with the pool (queued or being answered)

  std::mutex m;
  std::condition_variable cv;
  std::deque<connection_ptr> ready;      // whole requests, for the pool
  std::vector<connection_ptr> returned;  // answered, back to the gate for the next request

  std::vector<connection_ptr> waiting;  // the gate's: requests arriving, or lingering after a refusal
  steady::time_point accept_paused_until{};

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd, &one, sizeof one);
  }

  void gate();
  void accept_all(steady::time_point now);
  bool receive(connection& c);
  bool frame(connection_ptr& c, steady::time_point now);
  void refuse(connection& c, int status, const char* reason, const std::string& sentence, steady::time_point now,
              const std::string& headers = "");
  void work();
  void answer(connection_ptr c);
};

// ---------------------------------------------------------------------------
// The gate: one thread, poll() over the port and every connection whose
// request is still arriving.

void listener::impl::gate() {
  std::vector<pollfd> fds;
  while (!stopping) {
    auto now = steady::now();
    std::vector<connection_ptr> back;
    {
      std::lock_guard<std::mutex> lock(m);
      back.swap(returned);
    }
    for (auto& c : back) {
      if (!c->lingering) {
        c->next_request(now, now + request_time_max);
        frame(c, now);  // its next request may be here already (pipelining)
      }
      if (c) waiting.push_back(std::move(c));
    }

    fds.clear();
    const bool accepting = now >= accept_paused_until;
    fds.push_back({accepting ? listen_fd : -1, POLLIN, 0});
    fds.push_back({wake_fd, POLLIN, 0});
    auto until = now + poll_wait_max;
    for (const auto& c : waiting) {
      fds.push_back({c->fd, POLLIN, 0});
      until = std::min(until, c->deadline);
    }
    if (!accepting) until = std::min(until, accept_paused_until);
    if (::poll(fds.data(), fds.size(), ms_until(until)) < 0 && errno != EINTR) break;
    now = steady::now();

    if (fds[1].revents) {
      std::uint64_t n;
      [[maybe_unused]] const auto got = ::read(wake_fd, &n, sizeof n);
    }
    for (std::size_t i = 0; i + 2 < fds.size(); ++i) {
      auto& c = waiting[i];
      if (!(fds[i + 2].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      if (!receive(*c)) c.reset();
      else if (!c->lingering) frame(c, now);
    }
    std::erase(waiting, nullptr);
    if (fds[0].revents & POLLIN) accept_all(now);

    for (auto& c : waiting) {
      if (now < c->deadline) continue;
      if (c->lingering || c->buf.empty()) c.reset();  // an idle keep-alive connection just ends
      else
        refuse(*c, 408, "Request Timeout",
               "the request did not arrive whole within " + std::to_string(request_time_max.count()) +
                   " s (plus 1 s for each 64 KiB of its body)",
               now);
    }
    std::erase(waiting, nullptr);
  }
  waiting.clear();
}

void listener::impl::accept_all(steady::time_point now) {
  for (std::size_t k = 0; k < accepts_per_round_max; ++k) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: the pending connection stays in the backlog and
      // the port readable, so stop polling it for a moment instead of spinning.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
        accept_paused_until = now + 100ms;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    // An answer goes out in more than one send (its head, then its body):
    // with Nagle's algorithm the body would wait for the client's delayed
    // ACK of the head, 40 ms on Linux, on every answer of a kept connection.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (waiting.size() + busy + pump.open() >= connections_max) {
      // Full: drop whoever has waited longest for its request (a slow client
      // rather than one that just arrived), or, if all are being answered, the newcomer.
      auto oldest = std::min_element(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
        return std::pair(!a->lingering, a->since) < std::pair(!b->lingering, b->since);
      });
      if (oldest == waiting.end()) {
        ::close(fd);
        continue;
      }
      waiting.erase(oldest);
    }
    auto c = std::make_unique<connection>(fd, budget);
    c->next_request(now, now + request_time_max);
    waiting.push_back(std::move(c));
  }
}

// Reads what arrived, at most up to the end of the request being collected.
// False: the connection is over (closed by the client, or an error).
bool listener::impl::receive(connection& c) {
  if (c.lingering) {
    char scratch[16384];
    const ssize_t n = ::recv(c.fd, scratch, sizeof scratch, 0);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
  }
  const std::size_t limit = c.head_end ? c.request_end : head_bytes_max;
  const std::size_t want = std::min(recv_bytes_max, limit > c.buf.size() ? limit - c.buf.size() : 1);
  const std::size_t old = c.buf.size();
  c.buf.resize(old + want);
  const ssize_t n = ::recv(c.fd, c.buf.data() + old, want, 0);
  c.buf.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
  if (n > 0) return true;
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

// Looks at what arrived: refuses a head that cannot be framed, and hands the
// request to the pool once it is whole (`c` is then empty).
bool listener::impl::frame(connection_ptr& c, steady::time_point now) {
  if (c->head_end == 0) {
    const std::size_t at = c->buf.find("\r\n\r\n", c->scanned >= 3 ? c->scanned - 3 : 0);
    if (at == std::string::npos) {
      c->scanned = c->buf.size();
      if (c->buf.size() >= head_bytes_max)
        refuse(*c, 431, "Request Header Fields Too Large",
               "the request's head is larger than " + std::to_string(head_bytes_max >> 10) + " KiB", now);
      return false;
    }
    c->head_end = at + 4;
    const head_facts head = read_head(std::string_view(c->buf.data(), at));
    if (head.problem_status) {
      refuse(*c, head.problem_status, head.problem_status == 411 ? "Length Required" : "Bad Request", head.problem,
             now);
      return false;
    }
    const std::uint64_t body = head.body_bytes;
    // httplib would send its own 100 Continue: the header is renamed (same
    // length, the head stays as framed), and the gate invites the body itself.
    const std::size_t expect_at = head.expect_continue_at;
    if (expect_at != std::string::npos) c->buf.replace(expect_at, 6, "X-Seen");
    if (body > cfg.body_bytes_max) {
      c->body_buffered = false;  // the router refuses it (413, or an earlier check) without reading it
      c->request_end = c->head_end;
    } else {
      if (body > small_body_bytes_max) {
        if (!c->reserve(static_cast<std::size_t>(body) - small_body_bytes_max, large_bodies_bytes_max)) {
          refuse(*c, 503, "Service Unavailable", "the server is receiving other large bodies; try again", now,
                 "Retry-After: 1\r\n");
          return false;
        }
      }
      c->request_end = c->head_end + static_cast<std::size_t>(body);
      c->deadline += std::chrono::seconds(static_cast<std::int64_t>(body / body_bytes_per_extra_second));
      if (expect_at != std::string::npos && c->buf.size() < c->request_end) {
        static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
        [[maybe_unused]] const auto n = ::send(c->fd, go_on.data(), go_on.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
  }
  if (c->buf.size() < c->request_end) return false;
  {
    std::lock_guard<std::mutex> lock(m);
    ready.push_back(std::move(c));
    ++busy;
  }
  cv.notify_one();
  return true;
}

// Answers with an error and closes once the client has gone (or after
// linger_time_max): closing with unread bytes would reset the connection and
// could destroy the answer before the client reads it.
void listener::impl::refuse(connection& c, int status, const char* reason, const std::string& sentence,
                            steady::time_point now, const std::string& headers) {
  const std::string body = nlohmann::json{{"error", sentence}}.dump() + "\n";
  const std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\nConnection: close\r\n" + headers + "\r\n" + body;
  [[maybe_unused]] const auto n = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(c.fd, SHUT_WR);
  c.release();
  c.buf.clear();
  c.lingering = true;
  c.deadline = now + linger_time_max;
}

// ---------------------------------------------------------------------------
// The pool: each thread answers one whole request at a time.

void listener::impl::work() {
  for (;;) {
    connection_ptr c;
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return stopping || !ready.empty(); });
      if (stopping) return;  // stop() closes what is still queued
      c = std::move(ready.front());
      ready.pop_front();
    }
    answer(std::move(c));
    --busy;
  }
}

void listener::impl::answer(connection_ptr c) {
  connection_stream strm(*c, write_wait_max);
  // The last answer on a connection says `Connection: close`.
  const bool last = stopping || !c->body_buffered || c->served + 1 >= requests_per_connection_max;
  bool closed = false, ok = false;
  std::shared_ptr<stream_feed> feed;
  handed = &feed;
  try {
    ok = r.process_request(strm, last, closed, nullptr);
  } catch (...) {  // httplib turns a handler's exception into a 500; anything else ends the connection
    ok = false;
  }
  handed = nullptr;
  ++c->served;
  c->release();
  if (feed) {  // a stream: the pump sends its body (httplib wrote the head)
    if (!stopping) pump.adopt(std::move(c), std::move(feed));
    return;
  }
  if (ok && !stopping && !c->body_buffered) {
    // Refused before the body it did not collect: the client may still be
    // sending it, so the gate reads and drops that until the client goes.
    ::shutdown(c->fd, SHUT_WR);
    c->buf.clear();
    c->lingering = true;
    c->deadline = steady::now() + linger_time_max;
  } else if (!ok || closed || last || stopping || strm.read_beyond() || strm.consumed() > c->request_end) {
    return;
  } else {
    // A body the route did not read (a refusal before it) is skipped: the
    // gate collected all of it, so the next request starts right after.
    c->buf.erase(0, c->request_end);
  }
  {
    std::lock_guard<std::mutex> lock(m);
    returned.push_back(std::move(c));
  }
  wake();
}

// ---------------------------------------------------------------------------

listener::listener(router& r, listener_config cfg) : impl_(std::make_unique<impl>(r, cfg)) {
  // The Keep-Alive header httplib writes tells clients these bounds.
  r.set_keep_alive_timeout(request_time_max.count());
  r.set_keep_alive_max_count(requests_per_connection_max);
}

listener::~listener() { stop(); }

stream_pump& listener::pump() { return impl_->pump; }

result<std::uint16_t> listener::bind(const std::string& host_text, std::uint16_t port) {
  std::string host = host_text;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0)
    return make_error(errc::refused, std::string("cannot resolve the address: ") + ::gai_strerror(rc));
  int first_errno = 0;
  for (addrinfo* ai = found; ai && impl_->listen_fd < 0; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      if (!first_errno) first_errno = errno;
      continue;
    }
    const int yes = 1, no = 0;
    // A restart must not wait for TIME_WAIT; SO_REUSEADDR does not let two
    // servers listen on one port (SO_REUSEPORT would, and is not set).
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (ai->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      impl_->listen_fd = fd;
    } else {
      if (!first_errno) first_errno = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(found);
  if (impl_->listen_fd < 0)
    return make_error(errc::refused, first_errno ? std::strerror(first_errno) : "the address cannot be bound");
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto bound = addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                                : reinterpret_cast<sockaddr_in*>(&addr)->sin_port;
  return static_cast<std::uint16_t>(ntohs(bound));
}

void listener::start() {
  auto& d = *impl_;
  if (d.listen_fd < 0 || d.gate_thread.joinable()) return;
  d.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  d.r.set_listening(d.listen_fd);
  d.pump.start();
  d.gate_thread = std::thread([&d] { d.gate(); });
  for (std::size_t i = 0; i < d.cfg.threads; ++i) d.pool.emplace_back([&d] { d.work(); });
}

void listener::stop() {
  auto& d = *impl_;
  d.stopping = true;
  d.r.set_listening(INVALID_SOCKET);  // streamed answers end at their next step
  if (d.wake_fd >= 0) d.wake();
  d.cv.notify_all();
  if (d.gate_thread.joinable()) d.gate_thread.join();
  for (auto& t : d.pool) t.join();
  d.pool.clear();
  d.pump.stop();
  d.ready.clear();
  d.returned.clear();
  if (d.listen_fd >= 0) ::close(d.listen_fd);
  if (d.wake_fd >= 0) ::close(d.wake_fd);
  d.listen_fd = d.wake_fd = -1;
}

}  // namespace dairector::cli::http
