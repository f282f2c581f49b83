// The event stream of the HTTP API (docs/http.md): text/event-stream of
// a pipeline's durable events. It subscribes to the journal first and asks
// for the history second, from the same scoped actor: CAF keeps each
// sender's messages in order, so every event is either in the history or in
// a later commit notice, and skipping seqs already sent makes each arrive
// exactly once.
//
// A pipeline another server of a cluster owns (docs/cluster.md) is streamed
// from the shared database instead: its history is read again every
// `stream_poll`, and what is new is sent, so a client that reconnects to
// any server with Last-Event-ID goes on without a gap or a duplicate.
#include <deque>
#include <functional>
#include <thread>

#include "cli/cluster_reads.hpp"
#include "cli/http_support.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/codec.hpp"

namespace dairector::cli::http {

namespace {

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr auto stream_keepalive = 1s;                    // idle streams get a comment (a closed client is noticed)
constexpr std::size_t stream_queue_events_max = 10'000;  // a client further behind is disconnected
constexpr std::size_t stream_frames_per_write = 256;
constexpr auto stream_poll = 200ms;  // a pipeline another server owns: its history is read this often

struct event_stream {
  event_stream(caf::actor_system& sys, std::atomic<int>& open) : self(sys), open_(open) {}
  ~event_stream() { --open_; }
  event_stream(const event_stream&) = delete;
  event_stream& operator=(const event_stream&) = delete;

  caf::scoped_actor self;  // subscribed to the journal; gone (and dropped by it) with the stream
  std::string pipeline;
  std::shared_ptr<const pipeline_spec> spec;
  std::deque<event> queue;       // to be sent, in seq order
  std::size_t from_history = 0;  // how many at the queue's front came from the history
  std::uint64_t last = 0;        // the highest seq queued or sent
  std::chrono::steady_clock::time_point written = std::chrono::steady_clock::now();
  std::function<result<std::vector<event>>()> poll;  // set: read from the database, not told by the journal

 private:
  std::atomic<int>& open_;
};

void enqueue(event_stream& s, const std::vector<event>& events) {
  for (const event& e : events)
    if (e.pipeline == s.pipeline && e.seq > s.last) {
      s.queue.push_back(e);
      s.last = e.seq;
    }
}

// Moves what the journal sent into the queue: first waiting up to
// stream_keepalive when `wait`, then only what is already there. The mailbox
// is drained at every step (it also gets every other pipeline's commits), so
// a slow client costs its own queue, which is bounded, and no more.
void drain(event_stream& s, bool wait) {
  if (s.poll) {
    if (wait) std::this_thread::sleep_for(stream_poll);
    if (auto h = s.poll()) enqueue(s, *h);
    return;
  }
  constexpr std::size_t messages_per_step_max = 1000;
  auto timeout = wait ? std::chrono::microseconds(stream_keepalive) : std::chrono::microseconds(0);
  bool more = true;
  for (std::size_t n = 0; more && n < messages_per_step_max; ++n)
    s.self->receive(
        [&](da::committed_atom, const std::vector<event>& events) {
          enqueue(s, events);
          timeout = std::chrono::microseconds(0);
        },
        caf::after(timeout) >> [&] { more = false; });
}

// One step of httplib's chunked-content loop: take what the journal sent,
// write up to stream_frames_per_write events or, when idle for
// stream_keepalive, a comment. False ends the stream.
bool pump(event_stream& s, httplib::DataSink& sink, const std::atomic<bool>& stopping) {
  auto write = [&](const std::string& chunk) {
    s.written = std::chrono::steady_clock::now();
    return sink.write(chunk.data(), chunk.size());
  };
  if (stopping) {
    sink.done();
    return true;
  }
  drain(s, /*wait=*/s.queue.empty());
  if (s.queue.size() - s.from_history > stream_queue_events_max) {
    write(": more than " + std::to_string(stream_queue_events_max) +
          " events behind; reconnect with Last-Event-ID\n\n");
    sink.done();
    return true;
  }
  if (!s.queue.empty()) {
    std::string chunk;
    for (std::size_t n = 0; n < stream_frames_per_write && !s.queue.empty(); ++n) {
      const event& e = s.queue.front();
      chunk += "id: " + std::to_string(e.seq) + "\ndata: " + encode_event_text(e, s.spec.get()) + "\n\n";
      s.queue.pop_front();
      if (s.from_history > 0) --s.from_history;
    }
    return write(chunk);
  }
  if (std::chrono::steady_clock::now() - s.written >= stream_keepalive) return write(": keepalive\n\n");
  return true;
}

}  // namespace

void serve_events(const http_api_config& cfg, std::atomic<int>& streams, const std::atomic<bool>& stopping,
                  const httplib::Request& req, httplib::Response& res, const std::string& id) {
  std::uint64_t after = 0;
  if (req.has_header("Last-Event-ID")) {
    auto seq = parse_seq(req.get_header_value("Last-Event-ID"), "Last-Event-ID", /*zero_ok=*/true);
    if (!seq) return send_error(res, seq.err());
    after = *seq;
  }
  if (!cfg.journal) return send_error(res, 503, "this server keeps no journal: there is no event stream");
  if (streams.fetch_add(1) >= streams_max) {
    --streams;
    return send_error(res, 503, "this server already serves " + std::to_string(streams_max) +
                                    " event streams; try again later");
  }
  auto s = std::make_shared<event_stream>(*cfg.system, streams);
  s->pipeline = id;
  s->last = after;
  auto now = ask_pipeline<system_state>(s->self, cfg, id, da::state_atom::value);
  if (!now && now.err().code == errc::not_found && cfg.others) {
    auto others = cfg.others;
    s->poll = [others, id] { return others->history(id); };
  }
  std::optional<std::vector<event>> polled;
  if (s->poll) {
    auto h = s->poll();
    if (!h) return send_error(res, h.err());
    s->spec = h->empty() ? nullptr : h->front().spec;
    polled = std::move(*h);
  } else {
    if (!now) return send_error(res, now.err());
    s->spec = now->spec_ptr();
  }
  if (req.method == "HEAD") {
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    return res.set_content("", "text/event-stream");
  }
  if (polled) {
    enqueue(*s, *polled);
  } else {
    // Subscribe, then ask for the history: in that order (see the top of this file).
    s->self->send(cfg.journal, da::subscribe_atom::value, caf::actor{s->self});
    auto h = history_of(s->self, cfg, id);
    if (!h) return send_error(res, h.err());
    enqueue(*s, *h);
  }
  s->from_history = s->queue.size();  // however long, the history is sent: the bound is for live events
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  const std::atomic<bool>& stop_flag = stopping;
  res.set_chunked_content_provider("text/event-stream", [s, &stop_flag](std::size_t, httplib::DataSink& sink) {
    // httplib calls this outside its handler's try: nothing may escape (it
    // would end the process); a failure ends this stream only.
    try {
      return pump(*s, sink, stop_flag);
    } catch (...) {
      return false;
    }
  });
}

}  // namespace dairector::cli::http
