#include "dairector/actors/journal.hpp"

#include <algorithm>
#include <unordered_map>

namespace dairector::actors {

namespace {
struct memory_journal_state {
  std::unordered_map<std::string, std::vector<event>> events;  // by pipeline
  std::size_t count = 0;  // also the position of the last event kept (every event is a commit of its own)
  bool dropped = false;  // an append came past `events_max`: not kept
  std::vector<caf::actor> subscribers;  // told of every event kept
};

caf::error full(std::size_t events_max) {
  return caf::make_error(caf::sec::runtime_error,
                         "the in-memory journal is full (" + std::to_string(events_max) + " events)");
}

// Events by mutable reference, as the durable journal takes them: a message
// sent to one receiver is not shared, so the event is moved in, not copied.
void kept(caf::event_based_actor* self, memory_journal_state& st, event& e) {
  ++st.count;
  if (!st.subscribers.empty()) {
    std::vector<event> one{e};
    const std::uint64_t pos = st.count;
    for (const auto& s : st.subscribers) self->send(s, committed_atom::value, pos, one);
  }
  st.events[e.pipeline].push_back(std::move(e));  // the key is copied before the event moves
}
}  // namespace

// (Every function actor here takes at least one argument: CAF 0.17 binds a
// reference to a null argument tuple when spawning one with none, which UBSan
// rightly reports.)
caf::behavior memory_journal(caf::event_based_actor* self, std::size_t events_max) {
  auto st = std::make_shared<memory_journal_state>();
  self->set_down_handler([=](caf::down_msg& dm) { forget_actor(st->subscribers, dm.source); });
  return {
      [=](append_atom, event& e) {
        if (st->count >= events_max) {  // over the bound: not kept
          st->dropped = true;
          return;
        }
        kept(self, *st, e);
      },
      [=](persist_atom, event& e) -> caf::result<std::uint64_t> {
        if (st->count >= events_max) return full(events_max);
        const std::uint64_t seq = e.seq;
        kept(self, *st, e);
        return seq;
      },
      // As the durable journal's: everything sent before is kept (each event
      // is its own commit); the supervisor's back-pressure asks for it. A
      // dropped append was not kept, so no longer.
      [=](journal_sync_atom) -> caf::result<std::uint64_t> {
        if (st->dropped) return full(events_max);
        return std::uint64_t(st->count);
      },
      [=](subscribe_atom, const caf::actor& who) {
        self->monitor(who);
        st->subscribers.push_back(who);
      },
      [st](history_atom, const std::string& pipeline) -> std::vector<event> {
        auto it = st->events.find(pipeline);
        return it == st->events.end() ? std::vector<event>{} : it->second;
      },
  };
}

}  // namespace dairector::actors
