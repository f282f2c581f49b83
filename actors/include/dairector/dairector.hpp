// Dairector as a library (docs/embedding.md): one header for embedders.
//
//   find_package(dairector) or add_subdirectory(dairector)
//   target_link_libraries(app PRIVATE dairector::dairector)
//
// The pure core (spec, state, events, reducer, invariants, policy, codecs) and
// the actor runtime (supervisor, director, workers, journal protocol). An
// embedding program owns its `caf::actor_system`: call
// `dairector::actors::configure_system(cfg)` on its config, spawn a
// `supervisor` (one pipeline) or a `director` (many), register C++ stage
// handlers in a `handler_registry`, and watch state changes with `watch_atom`.
// apps/examples/embed.cpp is a complete program.
#pragma once

#include "dairector/codec.hpp"
#include "dairector/event.hpp"
#include "dairector/invariants.hpp"
#include "dairector/journal_store.hpp"
#include "dairector/plan.hpp"
#include "dairector/reducer.hpp"
#include "dairector/result.hpp"
#include "dairector/spec.hpp"
#include "dairector/state.hpp"

#include "dairector/actors/director.hpp"
#include "dairector/actors/interfaces.hpp"
#include "dairector/actors/journal.hpp"
#include "dairector/actors/messages.hpp"
#include "dairector/actors/supervisor.hpp"
#include "dairector/actors/workers.hpp"
#include "dairector/engine.hpp"
