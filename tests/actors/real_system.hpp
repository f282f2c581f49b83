// What the actor tests on a real, multi-threaded actor system share (the
// deterministic ones use harness.hpp's test coordinator instead).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>

#include <caf/all.hpp>

#include "dairector/actors/messages.hpp"

namespace dairector::testing {

/// An actor system configured as our programs configure theirs, with CAF's console log off.
struct real_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  real_system() {
    cfg.set("logger.console", caf::atom("none"));
    actors::configure_system(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// A fresh folder under /tmp, removed with everything in it at the end.
/// Declare it before the real_system whose journal writes there, so that the
/// system (and the journal's writer thread) has stopped when it goes.
struct scratch_dir {
  std::filesystem::path path;
  scratch_dir() {
    char tmpl[] = "/tmp/dairector-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  // Never throws (it is a destructor: that would end the test run). A file
  // removed by another thread meanwhile (SQLite's -shm as a connection
  // closes) fails one pass, so a few are made.
  ~scratch_dir() {
    std::error_code ec;
    for (int pass = 0; pass < 5 && std::filesystem::exists(path, ec); ++pass) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace dairector::testing
