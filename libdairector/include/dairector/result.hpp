// Errors are values in the core (docs/contributing.md#habit-2-errors-are-values): every refusal of a spec, an
// event or a decode is an `error` with a code and a sentence a user can act on.
// Exceptions never leave libdairector.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "dairector/assert.hpp"

namespace dairector {

enum class errc {
  spec_invalid,   // a pipeline spec was refused (CLI exit 2)
  refused,        // an event is not legal in this state
  blocked,        // a start was refused because a confirmation is pending
  decode_failed,  // bytes or JSON that are not a valid event / value
  not_found,      // an unknown pipeline, stage or seq
  journal,        // journal I/O, corruption, ownership (CLI exit 5)
  fenced,         // another writer owns the pipeline now (a shared journal; CLI exit 5)
  // Appended (director errors carry the value across processes):
  unavailable,    // the pipeline cannot record now: its journal failed, or it has none (HTTP 503, exit 5)
  owned,          // another process owns the journal file (exit 5: control it through `serve`)
  behind,         // back-pressure: the journal is too far behind; the same request succeeds later (503 + Retry-After)
};
/// The last errc: tables over errc are checked against it at compile time.
inline constexpr errc errc_last = errc::behind;
inline constexpr int errc_count = static_cast<int>(errc_last) + 1;

const char* to_string(errc code);

/// What each code means to a client, in one table (docs/http.md#answers,
/// docs/cli.md#exit-codes): the HTTP status of an answer that carries it and
/// the exit code of a CLI command that fails with it. The core's codes travel
/// unchanged from the reducer to the HTTP answer; nobody matches sentences.
int http_status(errc code);
int exit_code_for(errc code);

struct error {
  errc code;
  std::string message;
};

/// Either a value or an error. Small on purpose: the core needs no more.
template <class T>
class result {
public:
  result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  result(error err) : v_(std::move(err)) {}           // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { DAIRECTOR_ASSERT(ok(), "result::value() of an error"); return std::get<0>(v_); }
  const T& value() const& { DAIRECTOR_ASSERT(ok(), "result::value() of an error"); return std::get<0>(v_); }
  T&& value() && { DAIRECTOR_ASSERT(ok(), "result::value() of an error"); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& err() const { DAIRECTOR_ASSERT(!ok(), "result::err() of a value"); return std::get<1>(v_); }

private:
  std::variant<T, error> v_;
};

inline error make_error(errc code, std::string message) {
  return error{code, std::move(message)};
}

}  // namespace dairector
