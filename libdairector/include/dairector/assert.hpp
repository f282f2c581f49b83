// An assertion that is never compiled out (docs/contributing.md): what must
// never happen is checked in every build, Release included, and stops the
// process with where and why, instead of carrying on from a state nobody
// designed for. Not for bad input: that is an `error` value (result.hpp).
#pragma once

namespace dairector {

/// Prints "dairector: internal error at FILE:LINE: WHAT (COND)" to stderr and
/// aborts.
[[noreturn, gnu::cold]] void assertion_failed(const char* cond, const char* what, const char* file, int line) noexcept;

}  // namespace dairector

#define DAIRECTOR_ASSERT(cond, what) \
  (static_cast<bool>(cond) ? static_cast<void>(0) : ::dairector::assertion_failed(#cond, what, __FILE__, __LINE__))
