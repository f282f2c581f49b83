// The stream pump: one thread that sends every open event stream of the
// HTTP API (docs/http.md#the-event-stream), so that an open stream holds no
// pool thread (http_listener.hpp). A route decides a stream's head on a pool
// thread as for any request; from its answer's first body step on, the
// connection is the pump's, which multiplexes all of them with poll() and
// non-blocking writes, asking each stream's feed for more whenever its
// connection can take it (and whenever the feeds say something came).
//
// Bounds: a connection whose client takes no byte for write_wait is
// dropped; at most out_bytes_max of a stream's answer wait in the pump (the
// feed keeps the rest, and bounds it); bytes a client sends on a stream are
// read and dropped, past input_bytes_max the connection is dropped; a
// stream idle for keepalive gets a comment (so a client that went is noticed).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/http_connection.hpp"

namespace dairector::cli::http {

/// What one stream sends: the pump asks for more when there is room.
class stream_feed {
 public:
  virtual ~stream_feed() = default;
  /// Appends the next bytes of the body to `out` (nothing: nothing yet).
  /// False: the stream ends after what was appended. Called on the pump's
  /// thread only; must not block.
  virtual bool take(std::string& out) = 0;
};

struct pump_config {
  std::chrono::milliseconds write_wait{5000};   // a client that takes no byte this long is gone
  std::chrono::milliseconds keepalive{1000};    // an idle stream gets a comment this often
  std::size_t out_bytes_max = 256u << 10;       // a stream's bytes waiting in the pump, at most (about)
  std::size_t input_bytes_max = 64u << 10;      // what a client may send on a stream before it is dropped
};

class stream_pump {
 public:
  explicit stream_pump(pump_config cfg = {});
  ~stream_pump();  // stop()
  stream_pump(const stream_pump&) = delete;
  stream_pump& operator=(const stream_pump&) = delete;

  void start();
  /// Ends every stream (its last chunk, without waiting for a client that
  /// does not read) and joins the thread.
  void stop();
  /// Takes a connection whose answer's head (chunked) is written; its body
  /// is what `feed` gives, until the feed ends, the client goes or stop().
  void adopt(std::unique_ptr<connection> c, std::shared_ptr<stream_feed> feed);
  /// Something new for the feeds: each is asked again.
  void wake();
  /// Streams the pump holds (they count as connections: http_listener.hpp).
  std::size_t open() const { return open_; }

 private:
  struct stream;
  void run();
  void fill(stream& s, steady::time_point now);
  bool flush(stream& s, steady::time_point now);

  pump_config cfg_;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> open_{0};
  std::mutex m_;
  std::vector<std::unique_ptr<stream>> adopted_;  // handed over, not yet in the loop
};

}  // namespace dairector::cli::http
