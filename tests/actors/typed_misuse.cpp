// Compiled by actors.interfaces_refuse (tests/actors/typed_misuse.cmake), never
// linked: with -DMISUSE=N the Nth misuse of a typed handle is in, and must not
// compile; without, everything here must.
#include "dairector/actors/interfaces.hpp"

using namespace dairector::actors;

void use(caf::scoped_actor& self, const supervisor_api& sup, const journal_api& journal) {
  auto ignore = [](caf::error&) {};
  self->request(sup, caf::infinite, resolve_atom::value, true, std::string("note"), std::string("user:x"))
      .receive([](reply&) {}, ignore);
  self->request(journal, caf::infinite, history_atom::value, std::string("p"))
      .receive([](std::vector<dairector::event>&) {}, ignore);
#if MISUSE == 1  // the note and `by` left out
  self->request(sup, caf::infinite, resolve_atom::value, true).receive([](reply&) {}, ignore);
#elif MISUSE == 2  // a string where the bool goes
  self->request(sup, caf::infinite, resolve_atom::value, std::string("yes"), std::string(), std::string())
      .receive([](reply&) {}, ignore);
#elif MISUSE == 3  // a message the supervisor does not take
  self->request(sup, caf::infinite, history_atom::value, std::string("p")).receive([](reply&) {}, ignore);
#elif MISUSE == 4  // the answer taken as the wrong type
  self->request(sup, caf::infinite, state_atom::value).receive([](reply&) {}, ignore);
#endif
}
