#include "cli/http_connection.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace dairector::cli::http {

namespace {

// Waits until the socket is ready for `events` (or reports an error, which
// recv/send then say); false when `until` passes first.
bool wait_for(int fd, short events, steady::time_point until) {
  for (;;) {
    if (steady::now() >= until) return false;
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, ms_until(until));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

template <class F>
void socket_name(int fd, F get, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  char host[NI_MAXHOST] = {}, serv[NI_MAXSERV] = {};
  if (get(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
      ::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

}  // namespace

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

head_facts read_head(std::string_view head) {
  head_facts f;
  const std::string method(head.substr(0, head.find(' ')));  // case-sensitive, as HTTP says
  std::optional<std::string> length;
  bool conflicting = false, encoded = false;
  // Header lines follow the request line, each after a CRLF.
  for (std::size_t crlf = head.find("\r\n"); crlf != std::string_view::npos;) {
    const std::size_t start = crlf + 2, end = std::min(head.find("\r\n", start), head.size());
    const std::string_view line = head.substr(start, end - start);
    const std::size_t colon = line.find(':');
    const std::string name = lower(line.substr(0, colon));
    const std::string value = colon == std::string_view::npos ? std::string() : lower(trim(line.substr(colon + 1)));
    if (name == "content-length") {
      conflicting = conflicting || (length && *length != value);
      length = value;
    } else if (name == "transfer-encoding") {
      encoded = true;
    } else if (name == "expect" && value == "100-continue") {
      f.expect_continue_at = start;
    }
    crlf = end < head.size() ? end : std::string_view::npos;
  }
  const bool number = length && !length->empty() && length->size() <= 19 &&
                      length->find_first_not_of("0123456789") == std::string::npos;
  if (encoded) {
    f.problem_status = 411;
    f.problem = "send the body with a Content-Length: a chunked (or otherwise encoded) body is not accepted";
  } else if (length && (conflicting || !number)) {
    f.problem_status = 400;
    f.problem = "the Content-Length is not one number of bytes";
  } else if (!length && (method == "POST" || method == "PUT" || method == "PATCH")) {
    f.problem_status = 411;
    f.problem = "a " + method + " needs a body with a Content-Length (send at least {})";
  } else if (length) {
    f.body_bytes = std::stoull(*length);
  }
  return f;
}

connection::~connection() {
  release();
  ::close(fd);
}

void connection::next_request(steady::time_point now, steady::time_point due) {
  scanned = head_end = request_end = 0;
  body_buffered = true;
  since = now;
  deadline = due;
}

void connection::release() {
  budget_ -= reserved_;
  reserved_ = 0;
}

bool connection::reserve(std::size_t bytes, std::size_t max) {
  // Only the gate's thread reserves, so the check and the add cannot interleave
  // with another reservation (releases only make room).
  if (budget_ + bytes > max) return false;
  budget_ += bytes;
  reserved_ += bytes;
  return true;
}

bool connection_stream::is_readable() const {
  return pos_ < c_.buf.size() || wait_for(c_.fd, POLLIN, c_.deadline);
}

bool connection_stream::is_writable() const { return wait_for(c_.fd, POLLOUT, steady::now() + write_wait_); }

ssize_t connection_stream::read(char* ptr, size_t size) {
  if (pos_ < c_.buf.size()) {
    const std::size_t n = std::min(size, c_.buf.size() - pos_);
    std::memcpy(ptr, c_.buf.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  // httplib asks for more than the gate framed: not expected, so the
  // connection is not kept; still bounded by the request's deadline.
  beyond_ = true;
  while (wait_for(c_.fd, POLLIN, c_.deadline)) {
    const ssize_t n = ::recv(c_.fd, ptr, size, 0);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
  }
  return -1;
}

ssize_t connection_stream::write(const char* ptr, size_t size) {
  const auto until = steady::now() + write_wait_;
  while (wait_for(c_.fd, POLLOUT, until)) {
    const ssize_t n = ::send(c_.fd, ptr, size, MSG_NOSIGNAL);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
  }
  return -1;
}

void connection_stream::get_remote_ip_and_port(std::string& ip, int& port) const {
  socket_name(c_.fd, ::getpeername, ip, port);
}

void connection_stream::get_local_ip_and_port(std::string& ip, int& port) const {
  socket_name(c_.fd, ::getsockname, ip, port);
}

}  // namespace dairector::cli::http
