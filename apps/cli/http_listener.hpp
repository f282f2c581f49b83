// The HTTP API's front door. httplib's own listener gives each connection a
// pool thread from its accept on, so twenty clients that send one byte a
// second hold every thread and nobody else is answered. Here one thread
// (the gate) accepts and collects each request whole, head and body, with a
// deadline, holding only a buffer per client; a pool thread sees a request
// only once all of it has arrived, and hands the connection back to the gate
// to wait for the next one (keep-alive). httplib still parses, routes and
// answers every request (router::process_request).
//
// Bounds: a request must arrive whole within request_time_max (plus 1 s per
// 64 KiB of declared body), else 408; a head over 64 KiB: 431; a body
// without a Content-Length: 411; at most connections_max connections (past
// that the one waiting longest for its request is dropped); bodies above
// 64 KiB share a 64 MiB budget (503 while it is spent). An event stream,
// once its head is written, is handed to the stream pump (http_pump.hpp):
// it holds a connection, counted against connections_max, and no thread.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/http_pump.hpp"
#include "dairector/result.hpp"

namespace dairector::cli::http {

using namespace std::chrono_literals;

constexpr auto request_time_max = 10s;

/// An httplib::Server that never listens itself: it parses, routes and
/// answers requests that `listener` hands it, on a stream of its own.
class router : public httplib::Server {
 public:
  using Server::process_request;
  /// httplib's streamed answers (the event stream) go on only while the
  /// server counts as listening: its socket is not INVALID_SOCKET.
  void set_listening(socket_t sock) { svr_sock_ = sock; }
};

struct listener_config {
  std::size_t threads = 16;                // pool threads: requests answered at once
  std::size_t body_bytes_max = 16u << 20;  // a larger declared body is not collected (the router refuses it)
};

class listener {
 public:
  listener(router& r, listener_config cfg);
  ~listener();  // stop()
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Binds HOST:PORT (port 0: one the system picks). SO_REUSEADDR only, not
  /// httplib's SO_REUSEPORT: a port another server listens on is refused
  /// ("Address already in use"), never shared with it. The bound port, or why not.
  result<std::uint16_t> bind(const std::string& host, std::uint16_t port);
  /// Accepts and serves on threads of its own until stop().
  void start();
  /// Closes the port and every connection; returns once requests in progress have ended.
  void stop();
  /// The pump that sends the streams handed to it (hand_to_pump).
  stream_pump& pump();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// From a route's content provider, on the pool thread answering the
/// request: once that answer's head is written (it is, when httplib first
/// asks the provider), its connection goes to the pump with `feed`; the
/// provider then returns false, so httplib writes no more. False when the
/// request is not answered by a listener's pool thread.
bool hand_to_pump(std::shared_ptr<stream_feed> feed);

}  // namespace dairector::cli::http
