// The durable journal in two actors (actors/include/dairector/actors/journal.hpp):
//
//   durable_journal    takes the appends and persists, forms the batches,
//                      answers the persists and tells the subscribers;
//   journal_committer  owns the store: every call to it (append, history,
//                      own, ...) happens in it, one at a time.
//
// While the committer writes batch N (encode, SQL or SQLite, fsync), the
// journal keeps taking messages and forms batch N+1, which it hands over
// the moment N is answered: the work of the mailbox and of the write
// overlap, instead of following one another. Batches reach the committer in
// the order they were formed and it answers them in that order (one sender,
// one receiver: CAF keeps FIFO), so the journal-wide order and every
// pipeline's seq order are the order of the batches. A batch after a failed
// one is refused by the store itself (it takes no more writes), so nothing
// follows a hole.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "dairector/actors/journal.hpp"
#include "dairector/journal/trace.hpp"

namespace dairector::actors {

namespace {

using flush_atom = caf::atom_constant<caf::atom("djflush")>;
using commit_atom = caf::atom_constant<caf::atom("djcommit")>;

caf::error failure(const std::string& why) { return caf::make_error(caf::sec::runtime_error, why); }

// ---------------------------------------------------------------------------
// The committer.

// The calling thread's CPU time, in seconds.
double thread_cpu_s() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) / 1e9;
}

// One commit's duration into the histogram (GET /metrics), and the CPU it took.
void observe(commit_histogram& h, std::chrono::steady_clock::duration took, double cpu_s) {
  const double s = std::chrono::duration<double>(took).count();
  const auto& bounds = journal_commit_bounds_s;
  ++h.counts[static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), s) - bounds.begin())];
  h.seconds_sum += s;
  h.cpu_seconds_sum += cpu_s;
  ++h.commits;
}

caf::behavior committer_behavior(caf::event_based_actor* self, std::shared_ptr<journal_store> store) {
  (void)self;
  auto timings = std::make_shared<commit_histogram>();
  return {
      // One transaction for the batch. The answer gives the events back (for
      // the answers and the subscribers), the pipelines fenced in it (their
      // events were not written), the error that lost the whole batch, if
      // any, the store's commits so far, and where its durable events begin
      // in the journal-wide order.
      [=](commit_atom, std::vector<event>& batch) {
        trace::mark(trace::point::commit_began);
        std::vector<std::string> fenced;
        std::string error;
        const auto began = std::chrono::steady_clock::now();
        const double cpu_began = thread_cpu_s();
        auto err = store->append(batch);
        trace::mark(trace::point::commit_ended);
        const double cpu = thread_cpu_s() - cpu_began;  // within the wall time: taken before its end
        observe(*timings, std::chrono::steady_clock::now() - began, cpu);
        if (err && err->code == errc::fenced) {
          fenced = store->take_fenced();
          error = err->message;
        } else if (err) {
          error = err->message;
        }
        return caf::make_message(std::move(batch), std::move(fenced), std::move(error), store->commits(),
                                 store->last_append_pos());
      },
      [=](history_atom, const std::string& pipeline) -> caf::result<std::vector<event>> {
        auto h = store->history(pipeline);
        if (!h) return failure(h.err().message);
        return std::move(*h);
      },
      [=](store_task_atom, std::shared_ptr<store_task>& task) {
        (*task)(*store);
        return true;
      },
      [=](summary_atom) -> caf::result<std::vector<pipeline_summary>> {
        auto all = store->pipelines();
        if (!all) return failure(all.err().message);
        return std::move(*all);
      },
      [=](events_after_atom, std::uint64_t after, std::uint64_t limit) -> caf::result<std::vector<positioned_event>> {
        auto events = store->events_after(after, static_cast<std::size_t>(limit));
        if (!events) return failure(events.err().message);
        return std::move(*events);
      },
      [=](own_atom, const std::string& pipeline) -> caf::result<std::uint64_t> {
        auto epoch = store->own(pipeline);
        if (!epoch) return failure(epoch.err().message);
        return *epoch;
      },
      [=](disown_atom, const std::string& pipeline) -> caf::result<bool> {
        if (auto err = store->disown(pipeline)) return failure(err->message);
        return true;
      },
      [=](reopen_atom) -> caf::result<bool> { return !store->reopen(); },
      [=](journal_stats_atom) { return store->commits(); },
      [=](journal_metrics_atom) { return *timings; },
  };
}

// ---------------------------------------------------------------------------
// The journal.

// Whom to answer, and whom to tell of a loss, for one batch.
struct batch_owners {
  std::vector<std::pair<std::size_t, caf::typed_response_promise<std::uint64_t>>> persists;  // batch index
  // Told if a write loses their appends: one entry per run of appends from
  // the same sender, with the batch index where the run begins (duplicates
  // are removed only when a write fails).
  std::vector<std::pair<std::size_t, caf::actor_addr>> appenders;
};

struct durable_journal_state {
  caf::actor committer;
  std::vector<event> batch;  // queued since the last hand-over, in arrival order
  batch_owners owners;       // of `batch`
  std::size_t in_flight = 0;  // batches handed over and not yet answered
  std::uint64_t in_flight_events = 0;  // the events of those batches
  std::array<std::uint64_t, event_type_count> committed{};  // durable events by type (GET /metrics)
  bool due = false;           // `batch` is to be handed over as soon as nothing is in flight
  bool flush_queued = false;  // a flush message is behind the queued writes
  bool timer_queued = false;  // a delayed flush is pending (starts only)
  // When the oldest append not yet handed over arrived (the actor clock: a
  // test's simulated time), if there is one.
  std::optional<caf::actor_clock::time_point> oldest_append;
  std::string failed;  // set by the first failed write: no more writes
  std::uint64_t events = 0, commits = 0;
  std::vector<caf::actor> subscribers;  // told of every commit
};
using state_ptr = std::shared_ptr<durable_journal_state>;

// Tells each appender once (a sender may have several runs of appends).
void tell_appenders(std::vector<caf::actor_addr> who, const std::string& why) {
  std::sort(who.begin(), who.end());
  who.erase(std::unique(who.begin(), who.end()), who.end());
  for (auto& a : who)
    if (auto to = caf::actor_cast<caf::actor>(a)) caf::anon_send(to, journal_failed_atom::value, why);
}

void count_committed(durable_journal_state& st, const std::vector<event>& durable) {
  for (const event& e : durable) ++st.committed[static_cast<std::size_t>(e.type)];
}

// A shared journal refused some pipelines' events because another server
// owns them now (errc::fenced): the other events are durable and answered as
// usual; the fenced ones are lost to this server, and whoever appended them
// (their supervisors) is told, so that they stop. The store takes more writes.
void settle_fenced(caf::event_based_actor* self, durable_journal_state& st, std::vector<event>& batch,
                   batch_owners& owners, std::vector<std::string> fenced, const std::string& why, std::uint64_t pos) {
  std::sort(fenced.begin(), fenced.end());
  auto is_fenced = [&](const event& e) { return std::binary_search(fenced.begin(), fenced.end(), e.pipeline); };
  std::vector<bool> persisted(batch.size(), false);  // answered below, not told
  for (const auto& p : owners.persists) persisted[p.first] = true;
  std::vector<event> durable;
  std::vector<caf::actor_addr> lost;
  for (std::size_t k = 0; k < batch.size(); ++k) {
    if (!is_fenced(batch[k])) {
      durable.push_back(batch[k]);
      continue;
    }
    if (persisted[k]) continue;
    // The run of appends this event belongs to: the last one starting at or before k.
    auto run = std::upper_bound(owners.appenders.begin(), owners.appenders.end(), k,
                                [](std::size_t i, const auto& r) { return i < r.first; });
    if (run != owners.appenders.begin()) lost.push_back(std::prev(run)->second);
  }
  st.events += durable.size();
  count_committed(st, durable);
  for (auto& [index, rp] : owners.persists) {
    if (is_fenced(batch[index])) rp.deliver(failure(why));
    else rp.deliver(batch[index].seq);
  }
  if (!durable.empty())
    for (const auto& s : st.subscribers) self->send(s, committed_atom::value, pos, durable);
  tell_appenders(std::move(lost), why);
}

void hand_over(caf::event_based_actor* self, const state_ptr& st);


// The committer's answer for a batch (rule 5: a persist is acknowledged only
// after its commit).
void settle(caf::event_based_actor* self, const state_ptr& st, batch_owners& owners, std::vector<event>& batch,
            std::vector<std::string>& fenced, const std::string& error, std::uint64_t commits, std::uint64_t pos) {
  --st->in_flight;
  st->commits = commits;
  if (error.empty()) {
    st->events += batch.size();
    count_committed(*st, batch);
    for (auto& [index, rp] : owners.persists) rp.deliver(batch[index].seq);
    for (const auto& s : st->subscribers) self->send(s, committed_atom::value, pos, batch);
  } else if (!fenced.empty()) {
    settle_fenced(self, *st, batch, owners, std::move(fenced), error, pos);
  } else {
    if (st->failed.empty()) st->failed = error;
    for (auto& [index, rp] : owners.persists) rp.deliver(failure(error));
    std::vector<caf::actor_addr> lost;
    for (auto& run : owners.appenders) lost.push_back(run.second);
    tell_appenders(std::move(lost), error);
  }
  if (st->due && st->in_flight == 0) hand_over(self, st);
}

// Hands the queued batch to the committer (one transaction).
void hand_over(caf::event_based_actor* self, const state_ptr& st) {
  st->due = false;
  if (st->batch.empty()) return;
  auto owners = std::make_shared<batch_owners>(std::move(st->owners));
  std::vector<event> batch;
  batch.swap(st->batch);
  st->owners = {};
  st->oldest_append.reset();
  ++st->in_flight;
  trace::mark(trace::point::handed_over);
  const std::uint64_t events = batch.size();
  st->in_flight_events += events;
  self->request(st->committer, caf::infinite, commit_atom::value, std::move(batch))
      .then(
          [=](std::vector<event>& b, std::vector<std::string>& fenced, std::string& error, std::uint64_t commits,
              std::uint64_t pos) {
            trace::mark(trace::point::answer_received);
            st->in_flight_events -= events;
            settle(self, st, *owners, b, fenced, error, commits, pos);
          },
          [=](caf::error& err) {  // the committer is gone: nothing of the batch is known to be durable
            st->in_flight_events -= events;
            std::vector<event> none;
            std::vector<std::string> no_fence;
            const std::string why = "the journal's writer stopped: " + self->system().render(err);
            auto kept = st->commits;
            settle(self, st, *owners, none, no_fence, why, kept, 0);
          });
}

// A batch is wanted now: handed over unless one is being written, in which
// case it goes the moment that one is answered (and grows meanwhile).
void flush(caf::event_based_actor* self, const state_ptr& st) {
  if (st->in_flight > 0) st->due = true;
  else hand_over(self, st);
}

// Everything queued goes to the committer now, behind what it has (a request
// that must see every earlier event: a history, a sync, own, disown).
void flush_all(caf::event_based_actor* self, const state_ptr& st) { hand_over(self, st); }

// At most one delayed flush is pending at a time.
void arm_timer(caf::event_based_actor* self, const state_ptr& st, std::chrono::microseconds delay) {
  if (st->timer_queued) return;
  st->timer_queued = true;
  self->delayed_send(self, delay, flush_atom::value, true);
}

// Queues an event. A persist (a completion, rule 5, or an event whose client
// waits for its answer) is committed as soon as possible: the flush message
// goes behind whatever is already in the mailbox, so everything queued by
// then shares the commit (and if a commit is under way, everything queued
// until it ends). Appends alone (the supervisor's own starts and decisions,
// rule 4: memory first, disk without waiting) may wait up to
// journal_append_delay for a persist to share a commit with, which halves
// the commits of a lone pipeline (start, then completion).
void enqueue(caf::event_based_actor* self, const state_ptr& st, event&& e, bool persist) {
  st->batch.push_back(std::move(e));
  if (st->batch.size() >= journal_batch_events_max) {
    flush_all(self, st);
    return;
  }
  if (persist && !st->flush_queued) {
    st->flush_queued = true;
    self->send(self, flush_atom::value, false);
  } else if (!persist && !st->oldest_append) {
    st->oldest_append = self->clock().now();
    arm_timer(self, st, journal_append_delay);
  }
}

// The delay is counted from the oldest append still waiting: a timer armed
// for appends that a persist's commit has taken since does not commit the
// ones that came after them early (a commit of a lone start would cost the
// disk a sync and the next completion its wait), it waits out their delay.
void on_timer(caf::event_based_actor* self, const state_ptr& st) {
  trace::mark(trace::point::timer_fired);
  st->timer_queued = false;
  if (!st->oldest_append) return;
  const auto waited = self->clock().now() - *st->oldest_append;
  if (waited >= journal_append_delay)
    flush(self, st);
  else
    arm_timer(self, st, std::chrono::ceil<std::chrono::microseconds>(journal_append_delay - waited));
}

}  // namespace

caf::behavior journal_committer(caf::event_based_actor* self, std::shared_ptr<journal_store> store) {
  return committer_behavior(self, std::move(store));
}

caf::behavior durable_journal(caf::event_based_actor* self, caf::actor committer) {
  auto st = std::make_shared<durable_journal_state>();
  st->committer = committer;
  // The committer lives as long as the journal: linked (either's fall takes
  // the other), and told to go when the journal goes for any reason.
  self->link_to(committer);
  self->attach_functor([committer](const caf::error&) { caf::anon_send_exit(committer, caf::exit_reason::user_shutdown); });
  self->set_down_handler([=](caf::down_msg& dm) { forget_actor(st->subscribers, dm.source); });
  return {
      // Events by mutable reference: a message sent to one receiver is not
      // shared, so the event is moved into the batch rather than copied.
      [=](append_atom, event& e) {
        trace::mark(trace::point::append_received);
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!st->failed.empty()) {
          if (sender) self->send(sender, journal_failed_atom::value, st->failed);
          return;
        }
        auto& runs = st->owners.appenders;
        if (sender && (runs.empty() || runs.back().second != sender.address()))
          runs.emplace_back(st->batch.size(), sender.address());
        enqueue(self, st, std::move(e), /*persist=*/false);
      },
      [=](persist_atom, event& e) -> caf::result<std::uint64_t> {
        trace::mark(trace::point::persist_received);
        if (!st->failed.empty()) return failure(st->failed);
        auto rp = self->make_response_promise<std::uint64_t>();
        st->owners.persists.emplace_back(st->batch.size(), rp);
        enqueue(self, st, std::move(e), /*persist=*/true);
        return rp;
      },
      [=](flush_atom, bool from_timer) {
        if (from_timer) return on_timer(self, st);
        st->flush_queued = false;
        flush(self, st);
      },
      // Requests that must see every event sent before them: the batch goes
      // first, then the request, to the committer, which answers the client.
      [=](history_atom, const std::string& pipeline) {
        flush_all(self, st);
        return self->delegate(st->committer, history_atom::value, pipeline);
      },
      // What is committed: nothing queued need go first (a reader that
      // subscribed before asking gets later commits as notices).
      [=](events_after_atom, std::uint64_t after, std::uint64_t limit) {
        return self->delegate(st->committer, events_after_atom::value, after, limit);
      },
      [=](store_task_atom, std::shared_ptr<store_task>& task) {
        flush_all(self, st);  // it sees everything sent before
        return self->delegate(st->committer, store_task_atom::value, std::move(task));
      },
      [=](summary_atom) {
        flush_all(self, st);  // the times of everything sent before
        return self->delegate(st->committer, summary_atom::value);
      },
      [=](own_atom, const std::string& pipeline) {
        flush_all(self, st);  // whatever was queued was appended under the old ownership
        return self->delegate(st->committer, own_atom::value, pipeline);
      },
      [=](disown_atom, const std::string& pipeline) {
        flush_all(self, st);  // its last events land before it is let go
        return self->delegate(st->committer, disown_atom::value, pipeline);
      },
      // Answered once every batch handed over so far is answered here (the
      // committer's answer to this request follows theirs).
      [=](journal_sync_atom) -> caf::result<std::uint64_t> {
        flush_all(self, st);
        auto rp = self->make_response_promise<std::uint64_t>();
        self->request(st->committer, caf::infinite, journal_stats_atom::value)
            .then([=](std::uint64_t commits) mutable {
              if (!st->failed.empty()) rp.deliver(failure(st->failed));
              else rp.deliver(commits);
            },
                  [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      // After everything in flight is answered (so a failure under way is
      // seen): 0 never failed, 1 takes writes again, 2 cannot yet.
      [=](reopen_atom) -> caf::result<std::uint32_t> {
        auto rp = self->make_response_promise<std::uint32_t>();
        self->request(st->committer, caf::infinite, journal_stats_atom::value)
            .then(
                [=](std::uint64_t) mutable {
                  if (st->failed.empty()) {
                    rp.deliver(std::uint32_t{0});
                    return;
                  }
                  self->request(st->committer, caf::infinite, reopen_atom::value)
                      .then(
                          [=](bool reopened) mutable {
                            if (reopened) st->failed.clear();
                            rp.deliver(std::uint32_t{reopened ? 1u : 2u});
                          },
                          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [=](journal_stats_atom) { return std::vector<std::uint64_t>{st->commits, st->events}; },
      // The committer's timings, with the counts as they are when it answers.
      [=](journal_metrics_atom) -> caf::result<journal_metrics> {
        auto rp = self->make_response_promise<journal_metrics>();
        self->request(st->committer, caf::infinite, journal_metrics_atom::value)
            .then(
                [=](commit_histogram& timings) mutable {
                  rp.deliver(journal_metrics{st->committed, st->batch.size() + st->in_flight_events, timings});
                },
                [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [=](subscribe_atom, const caf::actor& who) {
        self->monitor(who);
        st->subscribers.push_back(who);
      },
  };
}

caf::actor spawn_durable_journal(caf::actor_system& sys, std::shared_ptr<journal_store> store,
                                 caf::actor* committer_out) {
  // The journal on the scheduler's threads: a message between a supervisor
  // and it runs on the thread that sent it, with no wake-up of a sleeping
  // thread (on a VM each cost 13-16 us: docs/performance/report.md#the-timeline-of-one-stage).
  // The committer on a thread of its own: it blocks on fsync, and while it
  // does the journal forms the next batch beside it. With the committer on
  // the scheduler too, 10,000 pipelines committed about 100 events at a
  // time instead of thousands and ran 2.7x slower (A/B, journal_bench).
  auto committer = sys.spawn<caf::detached>(journal_committer, std::move(store));
  if (committer_out) *committer_out = committer;
  return sys.spawn(durable_journal, committer);
}

}  // namespace dairector::actors
