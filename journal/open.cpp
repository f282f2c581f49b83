#include "dairector/journal/open.hpp"

#include "dairector/journal/sqlite.hpp"

namespace dairector {

bool is_postgresql_uri(std::string_view where) {
  return where.rfind("postgresql://", 0) == 0 || where.rfind("postgres://", 0) == 0;
}

std::string redact_journal_name(std::string_view where) {
  if (!is_postgresql_uri(where)) return std::string(where);
  // scheme://[user[:password]@]host...: the password is between the first
  // ':' after the scheme and the last '@' before the path.
  const std::size_t from = where.find("://") + 3;
  std::size_t end = where.find_first_of("/?", from);
  if (end == std::string_view::npos) end = where.size();
  const std::size_t at = where.rfind('@', end);
  if (at == std::string_view::npos || at < from) return std::string(where);
  const std::size_t colon = where.find(':', from);
  if (colon == std::string_view::npos || colon > at) return std::string(where);
  return std::string(where.substr(0, colon + 1)) + "***" + std::string(where.substr(at));
}

result<std::unique_ptr<journal_store>> open_journal(const std::string& where, journal_options opt) {
  if (is_postgresql_uri(where))
    return make_error(errc::journal, "journal " + redact_journal_name(where) +
                                         ": this build of dairector has no PostgreSQL backend");
  return open_sqlite_journal(where, std::move(opt));
}

}  // namespace dairector
