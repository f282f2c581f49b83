// The event streams of the HTTP API (docs/http.md#the-event-stream):
// GET /pipelines/ID/events (ids are seqs) and GET /events (every pipeline,
// ids are journal-wide positions). A route decides the head on a pool
// thread; the body is sent by the stream pump (http_pump.hpp), fed from here,
// so an open stream holds no thread. One actor, the hub, is subscribed to
// the journal for every stream and fans its commit notices out.
//
// Each event once, in order, with no gap:
//   - one pipeline: the stream is registered with the hub before its history
//     is asked for, so every commit the history misses arrives as a notice
//     after the registration (held until the history is queued); seqs
//     already queued are skipped;
//   - every pipeline: the stream reads the journal by position (pages, as the
//     client takes them) until a read comes back short, then follows the
//     hub's ring, the frames of the latest commits in position order;
//     positions already sent are skipped. A ring started at the end of such
//     a read misses nothing: commits after it are told to the hub after that
//     read's answer (the committer answers both in order).
// In a cluster (docs/cluster.md) other servers' commits are not told here:
// the ring is filled by reading the shared database by position every
// `stream_poll`, and a pipeline another server owns is streamed from its
// history read again as often, so a client may reconnect to any server.
#include <deque>
#include <unordered_map>

#include "cli/cluster_reads.hpp"
#include "cli/http_listener.hpp"
#include "cli/http_pump.hpp"
#include "cli/http_support.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/codec.hpp"

namespace dairector::cli::http {

namespace {

// Bounds (docs/contributing.md#habit-8-bound-everything).
constexpr std::size_t stream_queue_events_max = 10'000;  // a client further behind is disconnected
constexpr std::size_t ring_bytes_max = 64u << 20;        // the ring's frames, at most (and that many events)
constexpr std::size_t stream_frames_per_take = 256;
constexpr std::size_t page_events_max = 256;  // read from the journal per step of a catch-up
constexpr std::size_t specs_max = 10'000;     // pipelines' specs kept to encode GET /events
constexpr auto stream_poll = 200ms;           // a cluster's database is read this often

using tick_atom = caf::atom_constant<caf::atom("dstick")>;
using read_atom = caf::atom_constant<caf::atom("dsread")>;

std::string frame(std::uint64_t id, const std::string& data) {
  return "id: " + std::to_string(id) + "\ndata: " + data + "\n\n";
}

std::string behind_comment() {
  return "more than " + std::to_string(stream_queue_events_max) + " events behind; reconnect with Last-Event-ID";
}

}  // namespace

class event_feed;

// What the hub and the feeds share, under `m`.
struct event_hub::state {
  std::mutex m;
  http_api_config cfg;
  stream_pump* pump = nullptr;  // null once stopped
  caf::actor actor;
  std::atomic<int> streams{0};

  std::unordered_multimap<std::string, std::weak_ptr<event_feed>> by_pipeline;  // told by the journal
  std::vector<std::weak_ptr<event_feed>> polled;  // pipelines other servers own
  std::vector<std::weak_ptr<event_feed>> everything;  // GET /events

  // The ring: frames of positions ring_first, ring_first + 1, ... Kept
  // while a GET /events stream is open (`ring_on`); it starts (ring_first
  // not 0) at the first commit told after that, or in a cluster at the end
  // of the first read by position that found events.
  bool ring_on = false;
  std::uint64_t ring_first = 0;
  std::deque<std::string> ring;
  std::size_t ring_bytes = 0;
  std::uint64_t trimmed = 0;  // positions up to this one were dropped for room
  std::unordered_map<std::string, std::shared_ptr<const pipeline_spec>> specs;

  void wake() {
    if (pump) pump->wake();
  }
  bool started() const { return ring_first != 0; }
  std::uint64_t ring_next() const { return ring_first + ring.size(); }
  void reset_ring(std::uint64_t next) {
    ring.clear();
    ring_bytes = 0;
    ring_first = next;
  }
  void remember(const std::string& pipeline, const std::shared_ptr<const pipeline_spec>& spec) {
    if (!spec) return;
    if (specs.size() >= specs_max) specs.clear();
    specs[pipeline] = spec;
  }
  /// Appends frame `pos` to the ring: an old one is skipped, and one past
  /// the end (a notice that could not be encoded was skipped) starts it
  /// again (the streams that need what is missing read the journal).
  void to_ring(std::uint64_t pos, std::string f) {
    if (pos < ring_next()) return;
    if (pos > ring_next()) reset_ring(pos);
    ring_bytes += f.size();
    ring.push_back(std::move(f));
    while (!ring.empty() && (ring.size() > stream_queue_events_max || ring_bytes > ring_bytes_max)) {
      ring_bytes -= ring.front().size();
      ring.pop_front();
      trimmed = ring_first++;
    }
  }
  void add_positioned(const std::vector<positioned_event>& events) {
    for (const positioned_event& pe : events) {
      remember(pe.e.pipeline, pe.spec);
      to_ring(pe.pos, frame(pe.pos, encode_event_text(pe.e, pe.spec.get())));
    }
  }
  void page_read(event_feed& f, const std::vector<positioned_event>& page);
};

// One open stream (every member under the hub's mutex).
class event_feed final : public stream_feed {
 public:
  explicit event_feed(std::shared_ptr<event_hub::state> hub) : hub_(std::move(hub)) {}
  ~event_feed() override { --hub_->streams; }
  event_feed(const event_feed&) = delete;
  event_feed& operator=(const event_feed&) = delete;

  bool take(std::string& out) override;

  bool all = false;      // GET /events: ids are positions
  std::string pipeline;  // otherwise the pipeline's, ids are seqs
  std::shared_ptr<const pipeline_spec> spec;
  bool holding = true;      // its history is being read: notices wait in `held`
  std::vector<event> held;  // (bounded as the queue)
  std::uint64_t last = 0;   // the highest seq or position queued
  std::deque<std::string> frames;
  std::size_t from_history = 0;  // frames at the front from the history: the bound is for live ones
  bool reading = true;           // GET /events: catching up from the journal, not following the ring
  bool asked = false;            // a page is being read for it
  std::string end;               // set: a last comment, then the end

  /// Queues a pipeline's event unless it has it already.
  void enqueue(const event& e) {
    if (e.seq <= last || !end.empty()) return;
    frames.push_back(frame(e.seq, encode_event_text(e, spec.get())));
    last = e.seq;
    if (frames.size() - from_history > stream_queue_events_max) end = behind_comment();
  }
  /// Queues the pipeline's history, then what was told meanwhile.
  void start_live(const std::vector<event>& history) {
    for (const event& e : history) enqueue(e);
    from_history = frames.size();  // however long, the history is sent
    for (const event& e : held) enqueue(e);
    held.clear();
    holding = false;
  }

 private:
  std::shared_ptr<event_hub::state> hub_;
};

bool event_feed::take(std::string& out) {
  bool ask = false;
  caf::actor hub_actor;
  {
    std::lock_guard<std::mutex> lock(hub_->m);
    auto& h = *hub_;
    if (all && !reading && frames.empty() && end.empty() && h.started()) {
      if (last < h.trimmed && last + 1 < h.ring_first) {
        end = behind_comment();
      } else if (last + 1 < h.ring_first) {
        reading = true;  // what it needs is not in the ring: from the journal again
      } else {
        std::uint64_t p = last + 1;
        for (; p < h.ring_next() && frames.size() < stream_frames_per_take; ++p) frames.push_back(h.ring[p - h.ring_first]);
        last = p - 1;
      }
    }
    if (all && reading && frames.empty() && end.empty() && !asked) ask = asked = true;
    hub_actor = h.actor;
    for (std::size_t n = 0; n < stream_frames_per_take && !frames.empty(); ++n) {
      out += frames.front();
      frames.pop_front();
      if (from_history > 0) --from_history;
    }
    if (!end.empty() && frames.empty()) {
      out += ": " + end + "\n\n";
      return false;
    }
  }
  if (ask && hub_actor) caf::anon_send(hub_actor, read_atom::value);
  return true;
}

// A page of the journal for a GET /events stream catching up.
void event_hub::state::page_read(event_feed& f, const std::vector<positioned_event>& page) {
  f.asked = false;
  for (const positioned_event& pe : page) {
    remember(pe.e.pipeline, pe.spec);
    if (pe.pos <= f.last) continue;
    f.frames.push_back(frame(pe.pos, encode_event_text(pe.e, pe.spec.get())));
    f.last = pe.pos;
  }
  if (page.size() >= page_events_max) return;
  // The journal ends here (as of this read): the ring has what follows, or
  // will (take() compares). In a cluster the ring starts here, at a
  // position the database has (never at a client's id past the end).
  if (cfg.others && ring_on && !started() && !page.empty()) reset_ring(f.last + 1);
  f.reading = false;
}

namespace {

using hub_ptr = std::shared_ptr<event_hub::state>;

// Drops the feeds that have ended; false when none is left.
bool sweep(std::vector<std::weak_ptr<event_feed>>& feeds) {
  std::erase_if(feeds, [](const auto& w) { return w.expired(); });
  return !feeds.empty();
}

// A notice: each pipeline's streams get its events, and the ring the lot.
// An event whose pipeline's spec is not known here (a pipeline created
// before this process, or long ago) is read back from the journal with it,
// before anything later is taken (await).
void told(caf::event_based_actor* self, const hub_ptr& h, std::uint64_t pos, const std::vector<event>& events) {
  std::unique_lock<std::mutex> lock(h->m);
  for (const event& e : events) {
    auto [from, to] = h->by_pipeline.equal_range(e.pipeline);
    for (auto it = from; it != to;) {
      auto f = it->second.lock();
      if (!f) {
        it = h->by_pipeline.erase(it);
        continue;
      }
      if (f->holding) {
        f->held.push_back(e);
        if (f->held.size() > stream_queue_events_max) f->end = behind_comment();
      } else {
        f->enqueue(e);
      }
      ++it;
    }
  }
  if (h->cfg.others) {  // a cluster's ring is read from the database
    h->wake();
    return;
  }
  if (!sweep(h->everything)) {
    h->ring_on = false;
    h->reset_ring(0);
  }
  if (h->ring_on && !h->started()) h->reset_ring(pos);
  if (h->ring_on && pos + events.size() > h->ring_next()) {
    bool known = true;
    for (const event& e : events) {
      if (e.type == event_type::pipeline_created) h->remember(e.pipeline, e.spec);
      known = known && h->specs.count(e.pipeline);
    }
    if (known) {
      for (std::size_t k = 0; k < events.size(); ++k)
        h->to_ring(pos + k, frame(pos + k, encode_event_text(events[k], h->specs[events[k].pipeline].get())));
    } else {
      lock.unlock();
      self->request(h->cfg.journal, actor_timeout, da::events_after_atom::value, pos - 1,
                    static_cast<std::uint64_t>(events.size()))
          .await(
              [h](std::vector<positioned_event>& read) {
                std::lock_guard<std::mutex> again(h->m);
                if (h->ring_on) h->add_positioned(read);
                h->wake();
              },
              [h](caf::error&) {
                // Not encoded: the ring goes on after it, and the streams
                // that need these read them from the journal.
                std::lock_guard<std::mutex> again(h->m);
                h->wake();
              });
      return;
    }
  }
  h->wake();
}

// Reads a page for every GET /events stream that asked for one.
void read_pages(caf::event_based_actor* self, const hub_ptr& h) {
  std::vector<std::shared_ptr<event_feed>> asking;
  {
    std::lock_guard<std::mutex> lock(h->m);
    for (const auto& w : h->everything)
      if (auto f = w.lock(); f && f->asked && f->reading) asking.push_back(f);
  }
  for (auto& f : asking) {
    std::uint64_t after;
    {
      std::lock_guard<std::mutex> lock(h->m);
      after = f->last;
    }
    auto failed = [h, f](const std::string& why) {
      std::lock_guard<std::mutex> lock(h->m);
      f->end = "the journal cannot be read: " + why;
      h->wake();
    };
    if (h->cfg.others) {  // the cluster's reader: a blocking read, on this actor's own thread
      auto page = h->cfg.others->events_after(after, page_events_max);
      if (!page) {
        failed(page.err().message);
        continue;
      }
      std::lock_guard<std::mutex> lock(h->m);
      h->page_read(*f, *page);
      h->wake();
      continue;
    }
    std::weak_ptr<event_feed> w = f;
    self->request(h->cfg.journal, actor_timeout, da::events_after_atom::value, after,
                  static_cast<std::uint64_t>(page_events_max))
        .then(
            [h, w](std::vector<positioned_event>& page) {
              auto feed = w.lock();
              if (!feed) return;
              std::lock_guard<std::mutex> lock(h->m);
              h->page_read(*feed, page);
              h->wake();
            },
            [w, failed](caf::error& err) {
              if (w.lock()) failed(da::describe(err));
            });
  }
}

// A cluster: what other servers committed, from the database.
void poll_database(const hub_ptr& h) {
  std::vector<std::shared_ptr<event_feed>> polled;
  std::uint64_t next = 0;
  {
    std::lock_guard<std::mutex> lock(h->m);
    sweep(h->polled);
    for (const auto& w : h->polled)
      if (auto f = w.lock()) polled.push_back(f);
    if (!sweep(h->everything)) {
      h->ring_on = false;
      h->reset_ring(0);
    }
    // Streams waiting for a ring that has not started read again (their
    // reads found nothing so far).
    for (const auto& w : h->everything)
      if (auto f = w.lock(); f && !f->reading && !h->started()) f->reading = true;
    next = h->started() ? h->ring_next() : 0;
  }
  for (auto& f : polled) {
    std::string id;
    {
      std::lock_guard<std::mutex> lock(h->m);
      id = f->pipeline;
    }
    auto history = h->cfg.others->history(id);
    std::lock_guard<std::mutex> lock(h->m);
    if (history)
      for (const event& e : *history) f->enqueue(e);
  }
  while (next > 0) {
    auto page = h->cfg.others->events_after(next - 1, page_events_max);
    if (!page) break;  // the next turn tries again
    std::lock_guard<std::mutex> lock(h->m);
    if (!h->started()) break;
    h->add_positioned(*page);
    next = page->size() < page_events_max ? 0 : h->ring_next();
  }
  std::lock_guard<std::mutex> lock(h->m);
  h->wake();
}

caf::behavior hub_behavior(caf::event_based_actor* self, hub_ptr h) {
  if (h->cfg.journal) self->send(h->cfg.journal, da::subscribe_atom::value, caf::actor{self});
  if (h->cfg.others) self->send(self, tick_atom::value);
  return {
      [=](da::committed_atom, std::uint64_t pos, const std::vector<event>& events) { told(self, h, pos, events); },
      [=](read_atom) { read_pages(self, h); },
      [=](tick_atom) {
        poll_database(h);
        self->delayed_send(self, stream_poll, tick_atom::value);
      },
  };
}

// The parts of an answer every stream shares; false when it was answered
// with an error (or as a HEAD) and no stream follows.
bool stream_head(event_hub::state& h, const httplib::Request& req, httplib::Response& res) {
  if (!h.cfg.journal) {
    send_error(res, 503, "this server keeps no journal: there is no event stream");
    return false;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  if (req.method == "HEAD") {
    res.set_content("", "text/event-stream");
    return false;
  }
  return true;
}

// The body goes to the pump once httplib has written the head.
void hand_over(httplib::Response& res, std::shared_ptr<event_feed> feed) {
  res.set_chunked_content_provider("text/event-stream", [feed](std::size_t, httplib::DataSink&) {
    hand_to_pump(feed);  // noexcept in effect: it moves a pointer
    return false;
  });
}

// The stream bound; false: answered 503.
bool counted(event_hub::state& h, httplib::Response& res) {
  if (h.streams.fetch_add(1) < streams_max) return true;
  --h.streams;
  send_error(res, 503, "this server already serves " + std::to_string(streams_max) + " event streams; try again later");
  return false;
}

}  // namespace

event_hub::event_hub(const http_api_config& cfg, stream_pump& pump) : state_(std::make_shared<state>()) {
  state_->cfg = cfg;
  state_->pump = &pump;
  if (cfg.system && cfg.journal) {
    auto hub_actor = cfg.system->spawn<caf::detached>(hub_behavior, state_);
    std::lock_guard<std::mutex> lock(state_->m);
    state_->actor = hub_actor;
  }
}

event_hub::~event_hub() { stop(); }

void event_hub::stop() {
  caf::actor hub_actor;
  {
    std::lock_guard<std::mutex> lock(state_->m);
    state_->pump = nullptr;
    std::swap(hub_actor, state_->actor);
  }
  if (hub_actor) caf::anon_send_exit(hub_actor, caf::exit_reason::user_shutdown);
}

void serve_events(event_hub& hub, const httplib::Request& req, httplib::Response& res, const std::string& id) {
  auto& h = *hub.state_;
  const http_api_config& cfg = h.cfg;
  std::uint64_t after = 0;
  if (req.has_header("Last-Event-ID")) {
    auto seq = parse_seq(req.get_header_value("Last-Event-ID"), "Last-Event-ID", /*zero_ok=*/true);
    if (!seq) return send_error(res, seq.err());
    after = *seq;
  }
  if (!cfg.journal) return send_error(res, 503, "this server keeps no journal: there is no event stream");
  if (!counted(h, res)) return;
  auto f = std::make_shared<event_feed>(hub.state_);
  f->pipeline = id;
  f->last = after;
  caf::scoped_actor self{*cfg.system};
  auto now = ask_pipeline<system_state>(self, cfg, id, da::state_atom::value);
  const bool elsewhere = !now && now.err().code == errc::not_found && cfg.others;
  std::vector<event> history;
  if (elsewhere) {
    auto read = cfg.others->history(id);
    if (!read) return send_error(res, read.err());
    f->spec = read->empty() ? nullptr : read->front().spec;
    history = std::move(*read);
  } else {
    if (!now) return send_error(res, now.err());
    f->spec = now->spec_ptr();
  }
  if (!stream_head(h, req, res)) return;
  if (!elsewhere) {
    // Registered, then the history asked for: in that order (see the top).
    {
      std::lock_guard<std::mutex> lock(h.m);
      h.by_pipeline.emplace(id, f);
    }
    auto read = history_of(self, cfg, id);
    if (!read) return send_error(res, read.err());
    history = std::move(*read);
  }
  {
    std::lock_guard<std::mutex> lock(h.m);
    f->start_live(history);
    if (elsewhere) h.polled.push_back(f);
  }
  hand_over(res, std::move(f));
}

void serve_all_events(event_hub& hub, const httplib::Request& req, httplib::Response& res) {
  auto& h = *hub.state_;
  std::uint64_t after = 0;
  // A reconnecting client repeats its first URL (?after=) and says where it
  // got to in the header: the header wins.
  if (req.has_header("Last-Event-ID") || req.has_param("after")) {
    const bool header = req.has_header("Last-Event-ID");
    auto pos = parse_seq(header ? req.get_header_value("Last-Event-ID") : req.get_param_value("after"),
                         header ? "Last-Event-ID" : "after", /*zero_ok=*/true);
    if (!pos) return send_error(res, pos.err());
    after = *pos;
  }
  if (!h.cfg.journal) return send_error(res, 503, "this server keeps no journal: there is no event stream");
  if (!counted(h, res)) return;
  auto f = std::make_shared<event_feed>(hub.state_);
  f->all = true;
  f->holding = false;
  f->last = after;
  if (!stream_head(h, req, res)) return;
  {
    std::lock_guard<std::mutex> lock(h.m);
    h.everything.push_back(f);
    h.ring_on = true;
  }
  hand_over(res, std::move(f));
}

}  // namespace dairector::cli::http
