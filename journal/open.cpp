#include "dairector/journal/open.hpp"

#include <algorithm>

#include "dairector/journal/postgresql.hpp"
#include "dairector/journal/sqlite.hpp"

namespace dairector {

bool is_postgresql_uri(std::string_view where) {
  return where.rfind("postgresql://", 0) == 0 || where.rfind("postgres://", 0) == 0;
}

std::string redact_journal_name(std::string_view where) {
  if (!is_postgresql_uri(where)) return std::string(where);
  std::string out(where);
  // scheme://[user[:password]@]host...: the password is between the first
  // ':' after the scheme and the last '@' before the path.
  const std::size_t from = out.find("://") + 3;
  std::size_t end = out.find_first_of("/?", from);
  if (end == std::string::npos) end = out.size();
  const std::size_t at = out.rfind('@', end);
  const std::size_t colon = out.find(':', from);
  if (at != std::string::npos && at >= from && colon != std::string::npos && colon < at)
    out = out.substr(0, colon + 1) + "***" + out.substr(at);
  // ...?password=...&...: libpq takes it from the query too.
  for (std::size_t p = out.find("password=", from); p != std::string::npos; p = out.find("password=", p + 1)) {
    if (out[p - 1] != '?' && out[p - 1] != '&') continue;
    const std::size_t value = p + 9;
    out.replace(value, std::min(out.find('&', value), out.size()) - value, "***");
  }
  return out;
}

result<std::unique_ptr<journal_store>> open_journal(const std::string& where, journal_options opt) {
  if (is_postgresql_uri(where)) return open_postgresql_journal(where, std::move(opt));
  return open_sqlite_journal(where, std::move(opt));
}

}  // namespace dairector
