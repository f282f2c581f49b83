// One libpq connection of the PostgreSQL journal (journal/include/dairector/journal/postgresql.hpp):
// statements with text parameters, answers as values, and every message libpq
// gives run through `scrub`, so that a password in the URI never reaches a
// log, an error or an answer (libpq may quote its connection options).
//
// Nothing waits for the database for ever: connecting gives up after the
// timeout (libpq's connect_timeout, unless the URI sets its own), and a
// statement whose server sends nothing for that long (a database that hangs:
// stopped, or a network that drops packets) loses its connection, so the
// caller fails instead of blocking. The next statement connects again.
#pragma once

#include <libpq-fe.h>

#include <chrono>
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

/// How long a connection waits for its database by default (see the top).
inline constexpr std::chrono::milliseconds answer_timeout_default{30'000};

class connection {
public:
  /// `settings`: statements run after every (re)connect, e.g. "SET synchronous_commit = on".
  /// `timeout`: how long to wait for the database (see the top).
  connection(std::string uri, std::vector<std::string> settings,
             std::chrono::milliseconds timeout = answer_timeout_default);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects (or reconnects when the connection broke): the reason when it cannot.
  std::optional<std::string> ensure();

  /// One statement (or, without parameters, a script of several).
  answer run(const char* sql, std::span<const std::string> params = {});
  /// A statement that changes nothing (a read): when the connection turns
  /// out to be broken (the server restarted since it was last used), it is
  /// made again and the statement runs once more.
  answer read(const char* sql, std::span<const std::string> params = {});
  answer read(const char* sql, std::initializer_list<std::string> params) {
    const std::vector<std::string> p(params);
    return read(sql, std::span<const std::string>(p));
  }
  answer run(const char* sql, std::initializer_list<std::string> params) {
    const std::vector<std::string> p(params);
    return run(sql, std::span<const std::string>(p));
  }

  /// Streams the rows of `sql` one at a time (libpq's single-row mode: none
  /// is held beyond the one `row` gets). `row` returns false to skip the
  /// rest (they are still drained). The reason when the query failed. A
  /// read: tried once more on a fresh connection when the first try broke
  /// before any row.
  template <class Row>
  std::optional<std::string> each_row(const char* sql, std::span<const std::string> params, Row row);

  /// libpq's last connection-level message, scrubbed.
  std::string last_message() const;

private:
  /// Sends a statement and everything libpq buffered for it; false (and the
  /// connection dropped, `why` set) when it cannot.
  bool send(const char* sql, std::span<const std::string> params, std::string& why);
  /// The next result of the statement sent; nullptr when there are no more,
  /// or when the server said nothing for the timeout (then the connection is
  /// dropped and `timed_out_` set).
  PGresult* next_result();
  /// Every result of the statement sent, the last error kept.
  answer take_all();
  answer take(PGresult* r);
  /// Gives the connection up (after a timeout: its state is unknown).
  void drop();
  bool broken() const noexcept { return !conn_ || PQstatus(conn_) != CONNECTION_OK; }
  std::string timeout_message() const;

  std::string uri_;
  std::vector<std::string> settings_;
  std::vector<std::string> secrets_;
  std::chrono::milliseconds timeout_;
  PGconn* conn_ = nullptr;
  bool timed_out_ = false;  // the statement under way got no answer in time
};

template <class Row>
std::optional<std::string> connection::each_row(const char* sql, std::span<const std::string> params, Row row) {
  for (int attempt = 1;; ++attempt) {
    const bool was_connected = !broken();
    if (auto why = ensure()) return why;
    std::string why;
    if (!send(sql, params, why)) {
      if (attempt == 1 && was_connected && !timed_out_) continue;  // a connection that broke while idle
      return why;
    }
    if (!PQsetSingleRowMode(conn_)) {
      why = last_message();
      while (PGresult* r = next_result()) PQclear(r);
      return why;
    }
    std::optional<std::string> failed;
    bool wanted = true, any = false;
    while (PGresult* r = next_result()) {
      result_ptr held(r);
      const ExecStatusType status = PQresultStatus(r);
      if (status == PGRES_SINGLE_TUPLE) {
        any = true;
        if (wanted) wanted = row(static_cast<const PGresult*>(r));
      } else if (status != PGRES_TUPLES_OK && !failed) {
        failed = take(held.release()).why;
      }
    }
    if (timed_out_) return timeout_message();
    if (failed && attempt == 1 && was_connected && !any && broken()) continue;
    return failed;
  }
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
