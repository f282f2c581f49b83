// What a user asks of a pipeline, and the one function that turns it into an
// event (docs/design.md#the-model). The supervisor, the CLI on a journal and
// the HTTP API all ask here, so a request means the same thing and is refused
// with the same sentence and code wherever it comes from. Pure: the caller
// gives the time and, for a rollback, the history.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "dairector/event.hpp"
#include "dairector/state.hpp"

namespace dairector {

struct request {
  enum class kind : std::uint8_t {
    start,     // start `stage` now
    context,   // context change on `stage` (null `context`: keep the stage's own)
    confirm,   // approve the pending confirmation (`note`)
    reject,    // reject it (`note`)
    cancel,    // cancel running `stage`; empty: the whole pipeline
    rollback,  // return to the state right after seq `to`
    retry,     // make failed or cancelled `stage` (and its downstream) startable again
  };
  kind what = kind::cancel;
  std::string by;     // "user:NAME", or who the server says
  std::string stage;  // start, context, cancel, retry
  std::shared_ptr<const json> context;
  std::string note;
  std::uint64_t to = 0;
};

const char* to_string(request::kind k);
/// The event type a request records.
event_type event_type_of(request::kind k);

/// The event `r` stands for on `s` at `at_ms`, checked against the reducer:
/// applying it to `s` succeeds. Otherwise a sentence and its code:
/// not_found (an unknown stage), refused (not legal now), blocked (a start
/// under a pending confirmation), decode_failed (a context that is no
/// value). A rollback needs the pipeline's history (its target is resolved
/// from it); the other requests ignore it.
result<event> event_for(const system_state& s, const request& r, std::int64_t at_ms,
                        std::span<const event> history = {});

}  // namespace dairector
