#include "dairector/actors/journal.hpp"

#include <unordered_map>

namespace dairector::actors {

namespace {
struct memory_journal_state {
  std::unordered_map<std::string, std::vector<event>> events;  // by pipeline
};
}  // namespace

caf::behavior memory_journal(caf::event_based_actor* self) {
  (void)self;
  auto st = std::make_shared<memory_journal_state>();
  return {
      [st](append_atom, const event& e) { st->events[e.pipeline].push_back(e); },
      [st](persist_atom, const event& e) -> std::uint64_t {
        st->events[e.pipeline].push_back(e);
        return e.seq;
      },
      [st](history_atom, const std::string& pipeline) -> std::vector<event> {
        auto it = st->events.find(pipeline);
        return it == st->events.end() ? std::vector<event>{} : it->second;
      },
  };
}

}  // namespace dairector::actors
