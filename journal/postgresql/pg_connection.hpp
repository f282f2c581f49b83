// One libpq connection of the PostgreSQL journal (journal/include/dairector/journal/postgresql.hpp):
// statements with text parameters, answers as values, and every message libpq
// gives run through `scrub`, so that a password in the URI never reaches a
// log, an error or an answer (libpq may quote its connection options).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dairector::pg {

struct result_free {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_free>;

/// The secrets of a connection URI: its password as written (percent-encoded
/// or not, in the user part or as `password=`) and as libpq decodes it.
std::vector<std::string> secrets_of(const std::string& uri);

/// `text` with every secret replaced by "***", as one line (libpq's
/// multi-line messages joined with "; ", the trailing newline dropped).
std::string scrub(std::string_view text, const std::vector<std::string>& secrets);

/// A statement's answer: its rows, or why it failed (scrubbed) and the
/// SQLSTATE ("" when the connection, not the server, failed).
struct answer {
  result_ptr rows;
  std::string why;
  std::string state;
  bool ok() const noexcept { return why.empty(); }
  int count() const noexcept { return rows ? PQntuples(rows.get()) : 0; }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(rows.get(), row, col), static_cast<std::size_t>(PQgetlength(rows.get(), row, col))};
  }
  std::int64_t integer(int row, int col) const;
  std::uint64_t counted(int row, int col) const;  // an integer that is never negative
};

class connection {
public:
  /// `settings`: statements run after every (re)connect, e.g. "SET synchronous_commit = on".
  connection(std::string uri, std::vector<std::string> settings);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects (or reconnects when the connection broke): the reason when it cannot.
  std::optional<std::string> ensure();

  answer run(const char* sql, std::span<const std::string> params = {});
  answer run(const char* sql, std::initializer_list<std::string> params) {
    const std::vector<std::string> p(params);
    return run(sql, std::span<const std::string>(p));
  }

  /// Streams the rows of `sql` one at a time (libpq's single-row mode: none
  /// is held beyond the one `row` gets). `row` returns false to skip the
  /// rest (they are still drained). The reason when the query failed.
  template <class Row>
  std::optional<std::string> each_row(const char* sql, std::span<const std::string> params, Row row);

  /// libpq's last connection-level message, scrubbed.
  std::string last_message() const;

private:
  bool send(const char* sql, std::span<const std::string> params);
  answer take(PGresult* r);

  std::string uri_;
  std::vector<std::string> settings_;
  std::vector<std::string> secrets_;
  PGconn* conn_ = nullptr;
};

template <class Row>
std::optional<std::string> connection::each_row(const char* sql, std::span<const std::string> params, Row row) {
  if (auto why = ensure()) return why;
  if (!send(sql, params) || !PQsetSingleRowMode(conn_)) {
    std::string why = last_message();
    while (PGresult* r = PQgetResult(conn_)) PQclear(r);
    return why;
  }
  std::optional<std::string> failed;
  bool wanted = true;
  while (PGresult* r = PQgetResult(conn_)) {
    result_ptr held(r);
    const ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_SINGLE_TUPLE) {
      if (wanted) wanted = row(static_cast<const PGresult*>(r));
    } else if (status != PGRES_TUPLES_OK && !failed) {
      failed = take(held.release()).why;
    }
  }
  return failed;
}

/// A column of a row streamed by each_row.
inline std::string_view column(const PGresult* r, int col) {
  return {PQgetvalue(r, 0, col), static_cast<std::size_t>(PQgetlength(r, 0, col))};
}
std::int64_t column_integer(const PGresult* r, int col);

/// `{"a","b"}`: a text[] literal of `items` (each quoted, `"` and `\` escaped).
void append_text_array_item(std::string& out, std::string_view item);
/// Closes an array literal built with `{` and append_*_array_item.
void close_array(std::string& out);
void append_integer_array_item(std::string& out, std::int64_t item);

}  // namespace dairector::pg
