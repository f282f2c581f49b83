// What the HTTP API's files share (internal to the `dairector` program):
// JSON answers, requests to actors from an httplib thread, and the event
// stream (http_stream.cpp).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/http_api.hpp"
#include "dairector/actors/director.hpp"
#include "dairector/actors/messages.hpp"
#include "dairector/event.hpp"

namespace dairector::cli::http {

namespace da = dairector::actors;
using namespace std::chrono_literals;

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr auto actor_timeout = 30s;  // an actor that does not answer by then: 503
// Open event streams: each holds a connection (of the listener's 512), no
// thread (http_pump.hpp); the rest are left for requests.
constexpr int streams_max = 384;

void send_json(httplib::Response& res, int status, const json& body);
void send_error(httplib::Response& res, int status, const std::string& sentence);
void send_error(httplib::Response& res, const error& err);  // the status follows from err.code

// One request and its single answer of type T. A timeout is errc::journal
// (503: the server is overloaded or stuck); an error the director answered
// itself keeps its errc (404 unknown, 503 damaged); any other failure is
// `on_error`.
template <class T, class... Ts>
result<T> ask(caf::scoped_actor& self, const caf::actor& dest, errc on_error, Ts&&... xs) {
  if (!dest) return make_error(errc::journal, "the server is not ready");
  std::optional<result<T>> out;
  self->request(dest, actor_timeout, std::forward<Ts>(xs)...)
      .receive([&](T& value) { out.emplace(std::move(value)); },
               [&](caf::error& err) {
                 if (err == caf::sec::request_timeout)
                   out.emplace(make_error(errc::journal, "the server did not answer within " +
                                                             std::to_string(actor_timeout.count()) + " s"));
                 else if (auto code = da::errc_of(err))
                   out.emplace(make_error(*code, da::describe(err)));
                 else
                   out.emplace(make_error(on_error, da::describe(err)));
               });
  return std::move(*out);
}

/// A request to pipeline `id`'s supervisor and its answer, routed through
/// the director, which rebuilds a resting pipeline first (director.hpp): an
/// unknown pipeline is errc::not_found (404), a damaged one errc::journal
/// (503) with the damage. Never a supervisor's handle: the director may let
/// a finished one go at any time, so only it knows where to send.
template <class T, class... Ts>
result<T> ask_pipeline(caf::scoped_actor& self, const http_api_config& cfg, const std::string& id, Ts&&... xs) {
  return ask<T>(self, cfg.director, errc::not_found, id, caf::make_message(std::forward<Ts>(xs)...));
}
/// Whether the server knows pipeline `id` (rebuilding nothing): nullopt, or
/// the error of ask_pipeline.
std::optional<error> known(caf::scoped_actor& self, const http_api_config& cfg, const std::string& id);
/// The pipeline's events from the journal.
result<std::vector<event>> history_of(caf::scoped_actor& self, const http_api_config& cfg, const std::string& id);
/// A seq from a query parameter or header: digits only, at least 1 unless `zero_ok`.
result<std::uint64_t> parse_seq(const std::string& text, const char* what, bool zero_ok);

class stream_pump;

/// The source of every open event stream (http_stream.cpp): one
/// subscription to the journal, fanned out, and in a cluster one reader of
/// the shared database. The streams' bytes go out through `pump`.
class event_hub {
 public:
  struct state;
  event_hub(const http_api_config& cfg, stream_pump& pump);
  ~event_hub();  // stop()
  event_hub(const event_hub&) = delete;
  event_hub& operator=(const event_hub&) = delete;
  /// No more notices; the pump is not touched any more.
  void stop();

 private:
  friend void serve_events(event_hub&, const httplib::Request&, httplib::Response&, const std::string&);
  friend void serve_all_events(event_hub&, const httplib::Request&, httplib::Response&);
  std::shared_ptr<state> state_;
};

/// GET /pipelines/ID/events: a text/event-stream of the pipeline's durable
/// events (each once, in seq order, after Last-Event-ID), sent by the pump
/// until the client goes or the server stops.
void serve_events(event_hub& hub, const httplib::Request& req, httplib::Response& res, const std::string& id);
/// GET /events: every pipeline's committed events in journal order, ids
/// are journal-wide positions (after Last-Event-ID, or ?after=).
void serve_all_events(event_hub& hub, const httplib::Request& req, httplib::Response& res);

}  // namespace dairector::cli::http
