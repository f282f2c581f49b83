#include "cli/http_session.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdlib>

#include "cli/http_connection.hpp"
#include "dairector/actors/secret.hpp"

namespace dairector::cli::http {

namespace {

constexpr std::size_t id_chars = 2 * actors::secret_bytes;
constexpr std::size_t mac_chars = 64;       // SHA-256, hex
constexpr std::size_t issued_digits_max = 15;  // Unix milliseconds for the next 30,000 years

std::string hex(const unsigned char* bytes, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

bool all_hex(std::string_view s) { return s.find_first_not_of("0123456789abcdef") == std::string_view::npos; }

}  // namespace

session_table::session_table(std::string key, std::chrono::seconds lifetime, ms started)
    : key_(std::move(key)), lifetime_(lifetime), started_(started) {}

session_table::ms session_table::now() {
  return std::chrono::duration_cast<ms>(std::chrono::system_clock::now().time_since_epoch());
}

std::string session_table::mac(std::string_view id, ms issued) const {
  // Domain-separated, so that this MAC means nothing anywhere else.
  const std::string text = "dairector-session\n" + std::string(id) + "." + std::to_string(issued.count());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), reinterpret_cast<const unsigned char*>(text.data()),
       text.size(), out, &n);
  return hex(out, n);
}

std::optional<session_table::parsed> session_table::verify(std::string_view value) const {
  const auto dot1 = value.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : value.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  const std::string_view id = value.substr(0, dot1), issued = value.substr(dot1 + 1, dot2 - dot1 - 1),
                         given = value.substr(dot2 + 1);
  if (id.size() != id_chars || !all_hex(id) || issued.empty() || issued.size() > issued_digits_max ||
      issued.find_first_not_of("0123456789") != std::string_view::npos || given.size() != mac_chars)
    return std::nullopt;
  const ms at{std::stoll(std::string(issued))};
  if (key_.empty() || !actors::tokens_equal(std::string(given), mac(id, at))) return std::nullopt;
  return parsed{std::string(id), at};
}

void session_table::drop_expired(ms at) {
  std::erase_if(entries_, [&](const entry& e) { return e.issued + lifetime_ <= at; });
}

std::string session_table::open(ms at) {
  std::string id = actors::random_secret();
  std::lock_guard<std::mutex> lock(mutex_);
  drop_expired(at);
  if (entries_.size() >= sessions_max) entries_.erase(entries_.begin());
  entries_.push_back(entry{id, at});
  return id + "." + std::to_string(at.count()) + "." + mac(id, at);
}

bool session_table::valid(std::string_view value, ms at) {
  auto s = verify(value);  // the MAC is checked in constant time; the id is then public knowledge
  if (!s || s->issued + lifetime_ <= at || s->issued > at + lifetime_) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  if (std::find(ended_.begin(), ended_.end(), s->id) != ended_.end()) return false;
  if (std::any_of(entries_.begin(), entries_.end(), [&](const entry& e) { return e.id == s->id; })) return true;
  // Not in the table: opened by the server this process replaced (it joins
  // the table), or opened here and since ended, expired or pushed out.
  if (s->issued >= started_) return false;
  drop_expired(at);
  if (entries_.size() >= sessions_max) entries_.erase(entries_.begin());
  entries_.insert(entries_.begin(), entry{s->id, s->issued});  // among the oldest: it is older than ours
  return true;
}

void session_table::end(std::string_view value) {
  auto s = verify(value);
  if (!s) return;
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(entries_, [&](const entry& e) { return e.id == s->id; });
  if (std::find(ended_.begin(), ended_.end(), s->id) == ended_.end()) {
    if (ended_.size() >= sessions_max) ended_.pop_front();
    ended_.push_back(s->id);
  }
}

std::chrono::seconds session_lifetime_from_env() {
  const char* text = std::getenv("DAIRECTOR_TEST_SESSION_SECONDS");
  if (!text || !*text || std::string_view(text).find_first_not_of("0123456789") != std::string_view::npos ||
      std::string_view(text).size() > 6)
    return session_table::lifetime_max;
  const long s = std::stol(text);
  return s < 1 ? session_table::lifetime_max : std::min(std::chrono::seconds(s), session_table::lifetime_max);
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t semi = std::min(header.find(';'), header.size());
    const std::string_view pair = trim(header.substr(0, semi));
    header.remove_prefix(std::min(semi + 1, header.size()));
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
  }
  return std::nullopt;
}

}  // namespace dairector::cli::http
