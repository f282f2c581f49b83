#include <algorithm>

#include "dairector/actors/journal.hpp"

namespace dairector::actors {

namespace {

using flush_atom = caf::atom_constant<caf::atom("djflush")>;

struct sqlite_journal_state {
  std::shared_ptr<journal_store> store;
  std::vector<event> batch;  // queued since the last commit, in arrival order
  std::vector<std::pair<std::size_t, caf::typed_response_promise<std::uint64_t>>> persists;  // batch index
  std::vector<caf::actor> appenders;  // told if a write loses their appends
  bool flush_queued = false;
  std::string failed;  // set by the first failed write: no more writes
  std::uint64_t events = 0;
};

caf::error failure(const std::string& why) { return caf::make_error(caf::sec::runtime_error, why); }

// One transaction for everything queued, then the answers (rule 5: a persist
// is acknowledged only after its commit).
void flush(const std::shared_ptr<sqlite_journal_state>& st) {
  st->flush_queued = false;
  if (st->batch.empty()) return;
  auto err = st->store->append(st->batch);
  if (!err) {
    st->events += st->batch.size();
    for (auto& [index, rp] : st->persists) rp.deliver(st->batch[index].seq);
  } else {
    st->failed = err->message;
    for (auto& [index, rp] : st->persists) rp.deliver(failure(st->failed));
    for (auto& a : st->appenders) caf::anon_send(a, journal_failed_atom::value, st->failed);
  }
  st->batch.clear();
  st->persists.clear();
  st->appenders.clear();
}

// Queues an event; the flush message goes behind whatever is already in the
// mailbox, so everything queued by then shares the commit.
void enqueue(caf::event_based_actor* self, const std::shared_ptr<sqlite_journal_state>& st, const event& e) {
  st->batch.push_back(e);
  if (st->batch.size() >= journal_batch_events_max) {
    flush(st);
    return;
  }
  if (!st->flush_queued) {
    st->flush_queued = true;
    self->send(self, flush_atom::value);
  }
}

}  // namespace

caf::behavior sqlite_journal(caf::event_based_actor* self, std::shared_ptr<journal_store> store) {
  auto st = std::make_shared<sqlite_journal_state>();
  st->store = std::move(store);
  return {
      [=](append_atom, const event& e) {
        auto sender = caf::actor_cast<caf::actor>(self->current_sender());
        if (!st->failed.empty()) {
          if (sender) self->send(sender, journal_failed_atom::value, st->failed);
          return;
        }
        if (sender && std::find(st->appenders.begin(), st->appenders.end(), sender) == st->appenders.end())
          st->appenders.push_back(sender);
        enqueue(self, st, e);
      },
      [=](persist_atom, const event& e) -> caf::result<std::uint64_t> {
        if (!st->failed.empty()) return failure(st->failed);
        auto rp = self->make_response_promise<std::uint64_t>();
        st->persists.emplace_back(st->batch.size(), rp);
        enqueue(self, st, e);
        return rp;
      },
      [=](flush_atom) { flush(st); },
      [=](history_atom, const std::string& pipeline) -> caf::result<std::vector<event>> {
        flush(st);  // the history includes everything sent before this request
        auto h = st->store->history(pipeline);
        if (!h) return failure(h.err().message);
        return std::move(*h);
      },
      [=](journal_sync_atom) -> caf::result<std::uint64_t> {
        flush(st);
        if (!st->failed.empty()) return failure(st->failed);
        return st->store->commits();
      },
      [=](journal_stats_atom) {
        return std::vector<std::uint64_t>{st->store->commits(), st->events};
      },
  };
}

}  // namespace dairector::actors
