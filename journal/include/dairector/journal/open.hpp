// Opening a journal by name (docs/cli.md#common-options): a file path selects
// the SQLite backend, the embedded default; a `postgresql://` or
// `postgres://` URI (libpq's connection URI) selects PostgreSQL, for many
// servers on one database (docs/cluster.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "dairector/journal_store.hpp"

namespace dairector {

/// True when `where` names a PostgreSQL database rather than a file.
bool is_postgresql_uri(std::string_view where);

/// `where` with the password of a PostgreSQL URI replaced by "***": what
/// logs, errors and answers may show. A file path comes back unchanged.
std::string redact_journal_name(std::string_view where);

/// Opens the journal `where` names (a file, else a PostgreSQL URI), creating
/// it when writable and missing. Errors as each backend says (errc::journal).
result<std::unique_ptr<journal_store>> open_journal(const std::string& where, journal_options opt = {});

}  // namespace dairector
