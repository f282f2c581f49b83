#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "dairector/actors/journal.hpp"

namespace dairector::actors {

namespace {

using flush_atom = caf::atom_constant<caf::atom("djflush")>;

struct durable_journal_state {
  std::shared_ptr<journal_store> store;
  std::vector<event> batch;  // queued since the last commit, in arrival order
  std::vector<std::pair<std::size_t, caf::typed_response_promise<std::uint64_t>>> persists;  // batch index
  // Told if a write loses their appends: one entry per run of appends from
  // the same sender, with the batch index where the run begins (duplicates
  // are removed only when a write fails).
  std::vector<std::pair<std::size_t, caf::actor_addr>> appenders;
  bool flush_queued = false;  // a flush message is behind the queued writes
  bool timer_queued = false;  // a delayed flush is pending (starts only)
  // When the oldest append not yet committed arrived (the actor clock: a
  // test's simulated time), if there is one.
  std::optional<caf::actor_clock::time_point> oldest_append;
  std::string failed;  // set by the first failed write: no more writes
  std::uint64_t events = 0;
  std::vector<caf::actor> subscribers;  // told of every commit
};

caf::error failure(const std::string& why) { return caf::make_error(caf::sec::runtime_error, why); }

// Tells each appender once (a sender may have several runs of appends).
void tell_appenders(std::vector<caf::actor_addr> who, const std::string& why) {
  std::sort(who.begin(), who.end());
  who.erase(std::unique(who.begin(), who.end()), who.end());
  for (auto& a : who)
    if (auto to = caf::actor_cast<caf::actor>(a)) caf::anon_send(to, journal_failed_atom::value, why);
}

// A shared journal refused some pipelines' events because another server
// owns them now (errc::fenced): the other events are durable and answered as
// usual; the fenced ones are lost to this server, and whoever appended them
// (their supervisors) is told, so that they stop. The store takes more writes.
void settle_fenced(caf::event_based_actor* self, const std::shared_ptr<durable_journal_state>& st,
                   std::vector<std::string> fenced, const std::string& why) {
  std::sort(fenced.begin(), fenced.end());
  auto is_fenced = [&](const event& e) { return std::binary_search(fenced.begin(), fenced.end(), e.pipeline); };
  std::vector<bool> persisted(st->batch.size(), false);  // answered below, not told
  for (const auto& p : st->persists) persisted[p.first] = true;
  std::vector<event> durable;
  std::vector<caf::actor_addr> lost;
  for (std::size_t k = 0; k < st->batch.size(); ++k) {
    if (!is_fenced(st->batch[k])) {
      durable.push_back(st->batch[k]);
      continue;
    }
    if (persisted[k]) continue;
    // The run of appends this event belongs to: the last one starting at or before k.
    auto run = std::upper_bound(st->appenders.begin(), st->appenders.end(), k,
                                [](std::size_t i, const auto& r) { return i < r.first; });
    if (run != st->appenders.begin()) lost.push_back(std::prev(run)->second);
  }
  st->events += durable.size();
  for (auto& [index, rp] : st->persists) {
    if (is_fenced(st->batch[index])) rp.deliver(failure(why));
    else rp.deliver(st->batch[index].seq);
  }
  if (!durable.empty())
    for (const auto& s : st->subscribers) self->send(s, committed_atom::value, durable);
  tell_appenders(std::move(lost), why);
}

// One transaction for everything queued, then the answers (rule 5: a persist
// is acknowledged only after its commit).
void flush(caf::event_based_actor* self, const std::shared_ptr<durable_journal_state>& st) {
  if (st->batch.empty()) return;
  auto err = st->store->append(st->batch);
  if (!err) {
    st->events += st->batch.size();
    for (auto& [index, rp] : st->persists) rp.deliver(st->batch[index].seq);
    for (const auto& s : st->subscribers) self->send(s, committed_atom::value, st->batch);
  } else if (err->code == errc::fenced) {
    settle_fenced(self, st, st->store->take_fenced(), err->message);
  } else {
    st->failed = err->message;
    for (auto& [index, rp] : st->persists) rp.deliver(failure(st->failed));
    std::vector<caf::actor_addr> lost;
    for (auto& run : st->appenders) lost.push_back(run.second);
    tell_appenders(std::move(lost), st->failed);
  }
  st->batch.clear();
  st->oldest_append.reset();
  st->persists.clear();
  st->appenders.clear();
}

// At most one delayed flush is pending at a time.
void arm_timer(caf::event_based_actor* self, const std::shared_ptr<durable_journal_state>& st,
               std::chrono::microseconds delay) {
  if (st->timer_queued) return;
  st->timer_queued = true;
  self->delayed_send(self, delay, flush_atom::value, true);
}

// Queues an event. A persist (a completion, rule 5, or an event whose client
// waits for its answer) is committed as soon as possible: the flush message
// goes behind whatever is already in the mailbox, so everything queued by
// then shares the commit. Appends alone (the supervisor's own starts and
// decisions, rule 4: memory first, disk without waiting) may wait up to journal_append_delay for a persist to share a commit
// with, which halves the commits of a lone pipeline (start, then completion).
void enqueue(caf::event_based_actor* self, const std::shared_ptr<durable_journal_state>& st, event&& e,
             bool persist) {
  st->batch.push_back(std::move(e));
  if (st->batch.size() >= journal_batch_events_max) {
    flush(self, st);
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
void on_timer(caf::event_based_actor* self, const std::shared_ptr<durable_journal_state>& st) {
  st->timer_queued = false;
  if (!st->oldest_append) return;
  const auto waited = self->clock().now() - *st->oldest_append;
  if (waited >= journal_append_delay)
    flush(self, st);
  else
    arm_timer(self, st, std::chrono::ceil<std::chrono::microseconds>(journal_append_delay - waited));
}

}  // namespace

caf::behavior durable_journal(caf::event_based_actor* self, std::shared_ptr<journal_store> store) {
  auto st = std::make_shared<durable_journal_state>();
  st->store = std::move(store);
  self->set_down_handler([=](caf::down_msg& dm) { forget_actor(st->subscribers, dm.source); });
  return {
      // Events by mutable reference: a message sent to one receiver is not
      // shared, so the event is moved into the batch rather than copied.
      [=](append_atom, event& e) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!st->failed.empty()) {
          if (sender) self->send(sender, journal_failed_atom::value, st->failed);
          return;
        }
        if (sender && (st->appenders.empty() || st->appenders.back().second != sender.address()))
          st->appenders.emplace_back(st->batch.size(), sender.address());
        enqueue(self, st, std::move(e), /*persist=*/false);
      },
      [=](persist_atom, event& e) -> caf::result<std::uint64_t> {
        if (!st->failed.empty()) return failure(st->failed);
        auto rp = self->make_response_promise<std::uint64_t>();
        st->persists.emplace_back(st->batch.size(), rp);
        enqueue(self, st, std::move(e), /*persist=*/true);
        return rp;
      },
      [=](flush_atom, bool from_timer) {
        if (from_timer) return on_timer(self, st);
        st->flush_queued = false;
        flush(self, st);
      },
      [=](history_atom, const std::string& pipeline) -> caf::result<std::vector<event>> {
        flush(self, st);  // the history includes everything sent before this request
        auto h = st->store->history(pipeline);
        if (!h) return failure(h.err().message);
        return std::move(*h);
      },
      [=](journal_sync_atom) -> caf::result<std::uint64_t> {
        flush(self, st);
        if (!st->failed.empty()) return failure(st->failed);
        return st->store->commits();
      },
      [=](subscribe_atom, const caf::actor& who) {
        self->monitor(who);
        st->subscribers.push_back(who);
      },
      [=](own_atom, const std::string& pipeline) -> caf::result<std::uint64_t> {
        flush(self, st);  // whatever was queued was appended under the old ownership
        auto epoch = st->store->own(pipeline);
        if (!epoch) return failure(epoch.err().message);
        return *epoch;
      },
      [=](disown_atom, const std::string& pipeline) -> caf::result<bool> {
        flush(self, st);  // its last events land before it is let go
        if (auto err = st->store->disown(pipeline)) return failure(err->message);
        return true;
      },
      [=](reopen_atom) {
        if (st->failed.empty()) return std::uint32_t{0};
        if (st->store->reopen()) return std::uint32_t{2};
        st->failed.clear();
        return std::uint32_t{1};
      },
      [=](journal_stats_atom) {
        return std::vector<std::uint64_t>{st->store->commits(), st->events};
      },
  };
}

}  // namespace dairector::actors
