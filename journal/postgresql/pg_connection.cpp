#include "pg_connection.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace dairector::pg {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t k = 0; k < text.size(); ++k) {
    if (text[k] == '%' && k + 2 < text.size()) {
      const int hi = hex_digit(text[k + 1]), lo = hex_digit(text[k + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        k += 2;
        continue;
      }
    }
    out += text[k];
  }
  return out;
}

void add_secret(std::vector<std::string>& out, std::string secret) {
  if (secret.empty() || std::find(out.begin(), out.end(), secret) != out.end()) return;
  out.push_back(std::move(secret));
}

}  // namespace

std::vector<std::string> secrets_of(const std::string& uri) {
  std::vector<std::string> out;
  // As written: scheme://user:PASSWORD@host/... (even when libpq cannot parse the rest).
  if (const std::size_t scheme = uri.find("://"); scheme != std::string::npos) {
    const std::size_t from = scheme + 3;
    std::size_t end = uri.find_first_of("/?", from);
    if (end == std::string::npos) end = uri.size();
    const std::size_t at = uri.rfind('@', end);
    const std::size_t colon = uri.find(':', from);
    if (at != std::string::npos && at >= from && colon != std::string::npos && colon < at) {
      add_secret(out, uri.substr(colon + 1, at - colon - 1));
      add_secret(out, percent_decoded(uri.substr(colon + 1, at - colon - 1)));
    }
  }
  // ...?password=PASSWORD&...
  for (std::size_t at = uri.find("password="); at != std::string::npos; at = uri.find("password=", at + 1)) {
    if (at == 0 || (uri[at - 1] != '?' && uri[at - 1] != '&')) continue;
    const std::size_t from = at + 9;
    const std::size_t end = std::min(uri.find('&', from), uri.size());
    add_secret(out, uri.substr(from, end - from));
    add_secret(out, percent_decoded(uri.substr(from, end - from)));
  }
  // As libpq reads it.
  char* why = nullptr;
  if (PQconninfoOption* options = PQconninfoParse(uri.c_str(), &why)) {
    for (PQconninfoOption* o = options; o->keyword; ++o)
      if (std::string_view(o->keyword) == "password" && o->val) add_secret(out, o->val);
    PQconninfoFree(options);
  }
  if (why) PQfreemem(why);
  // Longest first: a secret inside another is replaced after it.
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::string scrub(std::string_view text, const std::vector<std::string>& secrets) {
  std::string out(text);
  for (const std::string& s : secrets)
    for (std::size_t at = out.find(s); at != std::string::npos; at = out.find(s, at + 3)) out.replace(at, s.size(), "***");
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (std::size_t at = out.find('\n'); at != std::string::npos; at = out.find('\n', at)) out.replace(at, 1, "; ");
  return out.empty() ? std::string("no reason given") : out;
}

std::int64_t answer::integer(int row, int col) const {
  const std::string_view t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

std::uint64_t answer::counted(int row, int col) const {
  const std::int64_t v = integer(row, col);
  return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

std::int64_t column_integer(const PGresult* r, int col) {
  const std::string_view t = column(r, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

connection::connection(std::string uri, std::vector<std::string> settings, std::chrono::milliseconds timeout)
    : uri_(std::move(uri)), settings_(std::move(settings)), secrets_(secrets_of(uri_)), timeout_(timeout) {}

connection::~connection() {
  if (conn_) PQfinish(conn_);
}

std::string connection::last_message() const {
  return conn_ ? scrub(PQerrorMessage(conn_), secrets_) : std::string("not connected");
}

std::string connection::timeout_message() const {
  return "the database sent nothing for " + std::to_string(timeout_.count()) +
         " ms (it hangs, or the network to it does); the connection was dropped";
}

void connection::drop() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

std::optional<std::string> connection::ensure() {
  if (!broken()) return std::nullopt;
  drop();
  // Our connect_timeout comes first: one in the URI overrides it.
  const std::string seconds = std::to_string(std::max<long long>(2, (timeout_.count() + 999) / 1000));
  const char* const keys[] = {"connect_timeout", "dbname", nullptr};
  const char* const values[] = {seconds.c_str(), uri_.c_str(), nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (!conn_) return std::string("cannot allocate a connection");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = last_message();
    drop();
    return why;
  }
  // The server's notices (e.g. a ROLLBACK after a failed COMMIT) are not
  // for the user's terminal: libpq would print them on standard error.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  // Non-blocking: every wait below is a poll with the timeout.
  if (PQsetnonblocking(conn_, 1) != 0) {
    std::string why = last_message();
    drop();
    return why;
  }
  for (const std::string& sql : settings_) {
    answer a = run(sql.c_str());
    if (!a.ok()) {
      drop();
      return a.why;
    }
  }
  return std::nullopt;
}

namespace {

// Waits until the socket can be read (or written, with `write`); false when
// the timeout passed first.
bool wait_socket(PGconn* conn, bool write, std::chrono::milliseconds timeout) {
  pollfd p{PQsocket(conn), static_cast<short>(POLLIN | (write ? POLLOUT : 0)), 0};
  for (;;) {
    const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let libpq find the fault
  }
}

}  // namespace

bool connection::send(const char* sql, std::span<const std::string> params, std::string& why) {
  timed_out_ = false;
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  const int sent = params.empty() ? PQsendQuery(conn_, sql)  // a script of several statements may run at once
                                  : PQsendQueryParams(conn_, sql, static_cast<int>(values.size()), nullptr,
                                                      values.data(), nullptr, nullptr, 0);
  if (sent != 1) {
    why = last_message();
    if (broken()) drop();
    return false;
  }
  for (;;) {
    const int left = PQflush(conn_);
    if (left == 0) return true;
    if (left < 0) {
      why = last_message();
      drop();
      return false;
    }
    if (!wait_socket(conn_, /*write=*/true, timeout_)) {
      timed_out_ = true;
      why = timeout_message();
      drop();
      return false;
    }
    if (!PQconsumeInput(conn_)) {  // the server may answer (an error) before it has read everything
      why = last_message();
      drop();
      return false;
    }
  }
}

PGresult* connection::next_result() {
  if (!conn_) return nullptr;
  while (PQisBusy(conn_)) {
    if (!wait_socket(conn_, /*write=*/false, timeout_)) {
      timed_out_ = true;
      drop();
      return nullptr;
    }
    if (!PQconsumeInput(conn_)) break;  // broken: PQgetResult says why
  }
  return PQgetResult(conn_);
}

answer connection::take(PGresult* r) {
  answer a;
  a.rows.reset(r);
  const ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_SINGLE_TUPLE) return a;
  const char* message = r ? PQresultErrorMessage(r) : nullptr;
  a.why = scrub(message && *message ? message : (conn_ ? PQerrorMessage(conn_) : "no answer"), secrets_);
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  a.state = state ? state : "";
  return a;
}

// The first failed result if one failed, else the last (as PQexec).
answer connection::take_all() {
  answer out;
  bool any = false, failed = false;
  while (PGresult* r = next_result()) {
    answer a = take(r);
    if (failed) continue;
    failed = !a.ok();
    out = std::move(a);
    any = true;
  }
  if (timed_out_) {
    answer a;
    a.why = timeout_message();
    return a;
  }
  if (!any) out.why = last_message();
  if (broken()) drop();
  return out;
}

answer connection::run(const char* sql, std::span<const std::string> params) {
  answer a;
  if (broken()) {
    a.why = last_message();
    return a;
  }
  if (!send(sql, params, a.why)) return a;
  return take_all();
}

answer connection::read(const char* sql, std::span<const std::string> params) {
  const bool was_connected = !broken();
  if (auto why = ensure()) {
    answer a;
    a.why = *why;
    return a;
  }
  answer a = run(sql, params);
  // Broken while it sat idle (a server restarted meanwhile): once more, anew.
  if (!a.ok() && was_connected && !timed_out_ && broken() && !ensure()) return run(sql, params);
  return a;
}

void append_text_array_item(std::string& out, std::string_view item) {
  if (out.size() > 1) out += ',';
  out += '"';
  for (char c : item) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void append_integer_array_item(std::string& out, std::int64_t item) {
  if (out.size() > 1) out += ',';
  char buf[24];
  out.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, item).ptr - buf));
}

void close_array(std::string& out) { out += '}'; }

}  // namespace dairector::pg
