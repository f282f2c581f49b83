#include "dairector/actors/journal.hpp"

#include <unordered_map>

namespace dairector::actors {

namespace {
struct memory_journal_state {
  std::unordered_map<std::string, std::vector<event>> events;  // by pipeline
  std::size_t count = 0;
};
}  // namespace

// (Every function actor here takes at least one argument: CAF 0.17 binds a
// reference to a null argument tuple when spawning one with none, which UBSan
// rightly reports.)
caf::behavior memory_journal(caf::event_based_actor* self, std::size_t events_max) {
  (void)self;
  auto st = std::make_shared<memory_journal_state>();
  return {
      [st, events_max](append_atom, const event& e) {
        if (st->count >= events_max) return;  // over the bound: not kept
        st->events[e.pipeline].push_back(e);
        ++st->count;
      },
      [st, events_max](persist_atom, const event& e) -> caf::result<std::uint64_t> {
        if (st->count >= events_max)
          return caf::make_error(caf::sec::runtime_error, "the in-memory journal is full (" +
                                                              std::to_string(events_max) + " events)");
        st->events[e.pipeline].push_back(e);
        ++st->count;
        return e.seq;
      },
      [st](history_atom, const std::string& pipeline) -> std::vector<event> {
        auto it = st->events.find(pipeline);
        return it == st->events.end() ? std::vector<event>{} : it->second;
      },
  };
}

}  // namespace dairector::actors
