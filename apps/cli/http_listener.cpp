#include "cli/http_listener.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace dairector::cli::http {

namespace {

using steady = std::chrono::steady_clock;

// Bounds (see the header).
constexpr std::size_t body_bytes_per_extra_second = 64u << 10;
constexpr std::size_t head_bytes_max = 64u << 10;
constexpr std::size_t connections_max = 512;  // keeps descriptors well under FD_SETSIZE, which httplib checks
constexpr std::size_t small_body_bytes_max = 64u << 10;
constexpr std::size_t large_bodies_bytes_max = 64u << 20;
constexpr std::size_t requests_per_connection_max = 100;
constexpr std::size_t recv_bytes_max = 64u << 10;
constexpr std::size_t accepts_per_round_max = 64;
constexpr auto write_wait_max = 5s;   // an answer's bytes find no room for this long: the client is gone
constexpr auto linger_time_max = 2s;  // after a refusal, the rest of the request is read and dropped this long
constexpr auto poll_wait_max = 1s;

int ms_until(steady::time_point t) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - steady::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, INT_MAX));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

// One client connection: in the gate while its request arrives, in the pool
// while it is answered.
struct connection {
  connection(int f, std::atomic<std::size_t>& budget) : fd(f), budget_(budget) {}
  ~connection() {
    release();
    ::close(fd);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Starts waiting for the next request (its bytes may already be in `buf`).
  void next_request(steady::time_point now) {
    scanned = head_end = request_end = 0;
    body_buffered = true;
    since = now;
    deadline = now + request_time_max;
  }
  void release() {
    budget_ -= reserved;
    reserved = 0;
  }

  int fd;
  std::string buf;              // the request's bytes from its first on (and what a client sent after it)
  std::size_t scanned = 0;      // where the search for the head's end goes on
  std::size_t head_end = 0;     // past the head's blank line; 0: not all here yet
  std::size_t request_end = 0;  // past the body: all of it is in `buf` once buf.size() reaches this
  bool body_buffered = true;    // false: a body over the limit, not collected (the answer closes the connection)
  bool lingering = false;       // refused: reading what still comes, until the client closes or linger_time_max
  std::size_t served = 0;       // requests answered on this connection
  std::size_t reserved = 0;     // bytes of the large-body budget this request holds
  steady::time_point since, deadline;

 private:
  std::atomic<std::size_t>& budget_;
};
using connection_ptr = std::unique_ptr<connection>;

// httplib reads the request from `buf` (the gate collected all of it) and
// writes the answer to the socket, giving up when a client takes no bytes
// for write_wait_max.
class connection_stream final : public httplib::Stream {
 public:
  explicit connection_stream(connection& c) : c_(c) {}

  bool is_readable() const override { return pos_ < c_.buf.size() || wait(POLLIN, c_.deadline); }
  bool is_writable() const override { return wait(POLLOUT, steady::now() + write_wait_max); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < c_.buf.size()) {
      const std::size_t n = std::min(size, c_.buf.size() - pos_);
      std::memcpy(ptr, c_.buf.data() + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    // httplib asks for more than the gate framed: not expected, so the
    // connection is not kept; still bounded by the request's deadline.
    beyond_ = true;
    while (wait(POLLIN, c_.deadline)) {
      const ssize_t n = ::recv(c_.fd, ptr, size, 0);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
    return -1;
  }

  ssize_t write(const char* ptr, size_t size) override {
    const auto until = steady::now() + write_wait_max;
    while (wait(POLLOUT, until)) {
      const ssize_t n = ::send(c_.fd, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
    return -1;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { name(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { name(::getsockname, ip, port); }
  socket_t socket() const override { return c_.fd; }

  std::size_t consumed() const { return pos_; }
  bool read_beyond() const { return beyond_; }

 private:
  bool wait(short events, steady::time_point until) const {
    for (;;) {
      if (steady::now() >= until) return false;
      pollfd p{c_.fd, events, 0};
      const int r = ::poll(&p, 1, ms_until(until));
      if (r > 0) return true;  // ready, or an error that recv/send then report
      if (r < 0 && errno != EINTR) return false;
    }
  }

  template <class F>
  void name(F get, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    char host[NI_MAXHOST] = {}, serv[NI_MAXSERV] = {};
    if (get(c_.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
        ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  connection& c_;
  std::size_t pos_ = 0;
  bool beyond_ = false;
};

}  // namespace

struct listener::impl {
  impl(router& rt, listener_config c) : r(rt), cfg(c) {}

  router& r;
  listener_config cfg;
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
  bool receive(connection& c, steady::time_point now);
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
    {
      std::lock_guard<std::mutex> lock(m);
      for (auto& c : returned) {
        if (!c->lingering) c->next_request(now);
        waiting.push_back(std::move(c));
      }
      returned.clear();
    }
    // A returned connection may hold its next request already (pipelining).
    for (auto& c : waiting)
      if (c && !c->lingering && c->head_end == 0 && !c->buf.empty()) frame(c, now);
    std::erase(waiting, nullptr);

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
      if (!receive(*c, now)) c.reset();
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
    if (waiting.size() + busy >= connections_max) {
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
    c->next_request(now);
    waiting.push_back(std::move(c));
  }
}

// Reads what arrived, at most up to the end of the request being collected.
// False: the connection is over (closed by the client, or an error).
bool listener::impl::receive(connection& c, steady::time_point) {
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
    const std::string_view head(c->buf.data(), at);
    const std::string method(head.substr(0, head.find(' ')));
    std::optional<std::string> length;
    bool chunked = false, conflicting = false;
    std::size_t expect_at = std::string::npos;
    for (std::size_t line = head.find("\r\n"); line != std::string_view::npos;) {
      const std::size_t start = line + 2, end = std::min(head.find("\r\n", start), head.size());
      const std::string_view text = head.substr(start, end - start);
      const std::string name = lower(text.substr(0, text.find(':')));
      const std::string value = text.find(':') == std::string_view::npos
                                    ? std::string()
                                    : lower(trim(text.substr(text.find(':') + 1)));
      if (name == "content-length") {
        conflicting = conflicting || (length && *length != value);
        length = value;
      } else if (name == "transfer-encoding") {
        chunked = true;
      } else if (name == "expect" && value == "100-continue") {
        expect_at = start;
      }
      line = end < head.size() ? end : std::string_view::npos;
    }
    std::string wrong;  // why the request cannot be framed
    int status = 0;
    if (chunked) {
      status = 411, wrong = "send the body with a Content-Length: a chunked (or otherwise encoded) body is not accepted";
    } else if (conflicting || (length && (length->empty() || length->size() > 19 ||
                                          length->find_first_not_of("0123456789") != std::string::npos))) {
      status = 400, wrong = "the Content-Length is not one number of bytes";
    } else if (!length && (method == "POST" || method == "PUT" || method == "PATCH")) {
      status = 411, wrong = "a " + method + " needs a body with a Content-Length (send at least {})";
    }
    if (status) {
      refuse(*c, status, status == 411 ? "Length Required" : "Bad Request", wrong, now);
      return false;
    }
    const std::size_t body = length ? static_cast<std::size_t>(std::stoull(*length)) : 0;
    // httplib would send its own 100 Continue: the header is renamed (same
    // length, the head stays as framed), and the gate invites the body itself.
    if (expect_at != std::string::npos) c->buf.replace(expect_at, 6, "X-Seen");
    if (body > cfg.body_bytes_max) {
      c->body_buffered = false;  // the router refuses it (413, or an earlier check) without reading it
      c->request_end = c->head_end;
    } else {
      if (body > small_body_bytes_max) {
        const std::size_t need = body - small_body_bytes_max;
        if (budget + need > large_bodies_bytes_max) {
          refuse(*c, 503, "Service Unavailable", "the server is receiving other large bodies; try again", now,
                 "Retry-After: 1\r\n");
          return false;
        }
        budget += need;
        c->reserved = need;
      }
      c->request_end = c->head_end + body;
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
  connection_stream strm(*c);
  // The last answer on a connection says `Connection: close`.
  const bool last = stopping || !c->body_buffered || c->served + 1 >= requests_per_connection_max;
  bool closed = false, ok = false;
  try {
    ok = r.process_request(strm, last, closed, nullptr);
  } catch (...) {  // httplib turns a handler's exception into a 500; anything else ends the connection
    ok = false;
  }
  ++c->served;
  c->release();
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
  d.ready.clear();
  d.returned.clear();
  if (d.listen_fd >= 0) ::close(d.listen_fd);
  if (d.wake_fd >= 0) ::close(d.wake_fd);
  d.listen_fd = d.wake_fd = -1;
}

}  // namespace dairector::cli::http
