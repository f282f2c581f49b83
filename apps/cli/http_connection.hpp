// One client connection of the HTTP API and its bytes (http_listener.hpp
// moves it between the gate and the pool): what a request head says about
// its framing, and the stream on which httplib reads the collected request
// and writes its answer.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dairector::cli::http {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// ASCII lower case (header names, media types, host names).
std::string lower(std::string_view text);
/// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view text);

/// What a request head (up to, not including, its blank line) says about
/// how the body that follows it is framed.
struct head_facts {
  std::uint64_t body_bytes = 0;  // the Content-Length (0 without one)
  std::size_t expect_continue_at = std::string::npos;  // where an `Expect: 100-continue` line starts
  int problem_status = 0;        // not 0: the body cannot be framed (400 or 411), and
  std::string problem;           // why, as a sentence
};
head_facts read_head(std::string_view head);

/// A client connection: in the gate while its request arrives, with the pool
/// while it is answered. Closes its socket when destroyed.
struct connection {
  /// `budget`: bytes of large bodies collected or promised, shared by all
  /// connections; this one gives back what it reserved when done.
  connection(int f, std::atomic<std::size_t>& budget) : fd(f), budget_(budget) {}
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts waiting for the next request, due by `deadline` (its first
  /// bytes may already be in `buf`).
  void next_request(steady::time_point now, steady::time_point deadline);
  /// Gives back this request's share of the large-body budget.
  void release();
  /// Holds `bytes` of the large-body budget unless that would pass `max`.
  bool reserve(std::size_t bytes, std::size_t max);

  int fd;
  std::string buf;              // the request's bytes from its first on (and what the client sent after it)
  std::size_t scanned = 0;      // where the search for the head's end goes on
  std::size_t head_end = 0;     // past the head's blank line; 0: not all here yet
  std::size_t request_end = 0;  // past the body: all of it is in `buf` once buf.size() reaches this
  bool body_buffered = true;    // false: a body over the limit, not collected (the answer closes the connection)
  bool lingering = false;       // refused: reading what still comes, until the client closes or a deadline
  std::size_t served = 0;       // requests answered on this connection
  steady::time_point since;     // when it began waiting for this request
  steady::time_point deadline;  // when that wait ends

 private:
  std::size_t reserved_ = 0;
  std::atomic<std::size_t>& budget_;
};

/// httplib reads the request from the connection's buffer (the gate
/// collected all of it) and writes the answer to its socket, giving up when
/// the client takes no bytes for `write_wait`.
class connection_stream final : public httplib::Stream {
 public:
  connection_stream(connection& c, std::chrono::milliseconds write_wait) : c_(c), write_wait_(write_wait) {}

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return c_.fd; }

  /// Bytes of the buffer httplib has read.
  std::size_t consumed() const { return pos_; }
  /// Whether httplib wanted more than the buffer held (and read the socket).
  bool read_beyond() const { return beyond_; }

 private:
  connection& c_;
  std::chrono::milliseconds write_wait_;
  std::size_t pos_ = 0;
  bool beyond_ = false;
};

/// Milliseconds from now until `t` for poll(): 0 when past.
int ms_until(steady::time_point t);

}  // namespace dairector::cli::http
