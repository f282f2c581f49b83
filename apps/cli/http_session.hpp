// The web view's sessions (docs/web.md#signing-in): `POST /session` with the
// right token opens one, and the browser then proves who it is with the
// cookie `dairector_session=ID` instead of the token. The id is random and
// known only to this server process (never the token itself: a stolen cookie
// dies with its session, a server restart or `POST /session/end`). The table
// is bounded and every session expires.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dairector::cli::http {

/// The cookie's name.
inline constexpr std::string_view session_cookie = "dairector_session";

class session_table {
 public:
  using clock = std::chrono::steady_clock;
  // Bounds (docs/contributing.md#habit-8-bound-everything).
  static constexpr std::size_t sessions_max = 256;  // the oldest goes when one more signs in
  static constexpr std::chrono::seconds lifetime_max{12 * 3600};  // then the page asks for the token again

  /// `lifetime` below lifetime_max only for tests (DAIRECTOR_TEST_SESSION_SECONDS: sessions_from_env).
  explicit session_table(std::chrono::seconds lifetime = lifetime_max) : lifetime_(lifetime) {}
  std::chrono::seconds lifetime() const { return lifetime_; }

  /// A new session's id (random hex); the oldest is dropped when the table is full.
  std::string open(clock::time_point now = clock::now());
  /// Whether `id` names a session that has not expired (compared in constant time).
  bool valid(std::string_view id, clock::time_point now = clock::now()) const;
  /// Forgets `id` (nothing when it names none).
  void end(std::string_view id);
  std::size_t size() const;

 private:
  struct entry {
    std::string id;
    clock::time_point expires;
  };
  std::chrono::seconds lifetime_;
  mutable std::mutex mutex_;
  std::vector<entry> entries_;  // oldest first
};

/// lifetime_max, or the seconds DAIRECTOR_TEST_SESSION_SECONDS says (1 to
/// lifetime_max): the tests see a session expire without waiting 12 hours.
std::chrono::seconds session_lifetime_from_env();

/// The value of cookie `name` in a Cookie header ("a=1; b=2"), or nothing.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

}  // namespace dairector::cli::http
