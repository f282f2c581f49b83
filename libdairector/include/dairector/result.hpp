// Errors are values in the core (docs/contributing.md#habit-2-errors-are-values): every refusal of a spec, an
// event or a decode is an `error` with a code and a sentence a user can act on.
// Exceptions never leave libdairector.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace dairector {

enum class errc {
  spec_invalid,   // a pipeline spec was refused (CLI exit 2)
  refused,        // an event is not legal in this state
  blocked,        // a start was refused because a confirmation is pending
  decode_failed,  // bytes or JSON that are not a valid event / value
  not_found,      // an unknown pipeline, stage or seq
  journal,        // journal I/O, corruption, ownership (CLI exit 5)
  fenced,         // another writer owns the pipeline now (a shared journal; CLI exit 5)
};

const char* to_string(errc code);

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

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& err() const { assert(!ok()); return std::get<1>(v_); }

private:
  std::variant<T, error> v_;
};

inline error make_error(errc code, std::string message) {
  return error{code, std::move(message)};
}

}  // namespace dairector
