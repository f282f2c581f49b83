// The web view's sessions (docs/web.md#signing-in): `POST /session` with the
// right token opens one, and the browser then proves who it is with the
// cookie `dairector_session=VALUE` instead of the token.
//
// VALUE is `ID.ISSUED_MS.MAC`: ID random, ISSUED_MS when it was opened (Unix
// milliseconds), MAC an HMAC-SHA256 of both keyed by the token. Never the
// token itself: a stolen cookie dies with its session, and a new token (the
// file replaced, the server restarted) ends every session at once.
// The table of this process knows every session it opened, bounded (the
// oldest goes) and expiring; /session/end forgets one. A session this
// process did not open is accepted only if it was opened before this process
// started (by the server this one replaced: an open page survives a restart)
// and then joins the table; one opened since that the table does not know was
// ended, expired or pushed out, and is refused.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
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
  using ms = std::chrono::milliseconds;  // since the Unix epoch
  // Bounds (docs/contributing.md#habit-8-bound-everything).
  static constexpr std::size_t sessions_max = 256;  // the oldest goes when one more signs in
  static constexpr std::chrono::seconds lifetime_max{12 * 3600};  // then the page asks for the token again

  /// `key`: the server's token. `lifetime` below lifetime_max only for tests
  /// (session_lifetime_from_env). `started`: when this process began.
  session_table(std::string key, std::chrono::seconds lifetime = lifetime_max, ms started = now());

  /// A new session: the cookie's value. The oldest is dropped when the table is full.
  std::string open(ms at = now());
  /// Whether `value` is a session's cookie value that may be used now.
  bool valid(std::string_view value, ms at = now());
  /// Forgets the session `value` names (nothing when it names none).
  void end(std::string_view value);

  std::chrono::seconds lifetime() const { return lifetime_; }
  static ms now();

 private:
  struct entry {
    std::string id;
    ms issued;
  };
  struct parsed {
    std::string id;
    ms issued;
  };
  std::string mac(std::string_view id, ms issued) const;
  std::optional<parsed> verify(std::string_view value) const;  // a value this key signed, or nothing
  void drop_expired(ms at);  // with mutex_ held

  std::string key_;
  std::chrono::seconds lifetime_;
  ms started_;
  std::mutex mutex_;
  std::vector<entry> entries_;  // oldest first
  std::deque<std::string> ended_;  // ids ended by /session/end, the last sessions_max
};

/// lifetime_max, or the seconds DAIRECTOR_TEST_SESSION_SECONDS says (1 to
/// lifetime_max): the tests see a session expire without waiting 12 hours.
std::chrono::seconds session_lifetime_from_env();

/// The value of cookie `name` in a Cookie header ("a=1; b=2"), or nothing.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

}  // namespace dairector::cli::http
