// A PostgreSQL database of its own for a story, on the tests' private cluster
// (tools/pg_cluster.sh, started by CTest's fixture `pg`, whose URI comes in
// DAIRECTOR_TEST_PG), dropped when the story ends; and SQL run on it behind
// the store's back (to damage or inspect it).
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include <boost/test/unit_test.hpp>

namespace dairector::test {

/// The URI of the tests' PostgreSQL cluster, "" when none was started.
inline std::string test_pg_uri() {
  const char* uri = std::getenv("DAIRECTOR_TEST_PG");
  return uri ? uri : "";
}

/// `uri` naming database `db` instead of its own (postgresql://[auth@host]/DB?query).
inline std::string with_database(const std::string& uri, const std::string& db) {
  const std::size_t from = uri.find("://") + 3;
  const std::size_t slash = uri.find('/', from);
  const std::size_t query = uri.find('?', from);
  const std::string head = uri.substr(0, slash == std::string::npos || slash > query ? query : slash);
  return head + "/" + db + (query == std::string::npos ? "" : uri.substr(query));
}

/// A libpq connection of our own (not through journal_store).
class pg_raw {
public:
  explicit pg_raw(const std::string& uri) : conn_(PQconnectdb(uri.c_str())) {
    BOOST_REQUIRE_MESSAGE(PQstatus(conn_) == CONNECTION_OK, "cannot connect to the tests' PostgreSQL: "
                                                                << PQerrorMessage(conn_));
  }
  ~pg_raw() { PQfinish(conn_); }
  pg_raw(const pg_raw&) = delete;
  pg_raw& operator=(const pg_raw&) = delete;

  void exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const ExecStatusType status = PQresultStatus(r);
    const std::string why = PQresultErrorMessage(r);
    PQclear(r);
    BOOST_REQUIRE_MESSAGE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK, sql << ": " << why);
  }
  /// The first column of the first row, as text ("" for none).
  std::string text(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    const std::string why = PQresultErrorMessage(r);
    const std::string out = ok && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    BOOST_REQUIRE_MESSAGE(ok, sql << ": " << why);
    return out;
  }

private:
  PGconn* conn_;
};

/// A fresh database, named after this process and a counter (the suites
/// run in parallel on one cluster), dropped at the end of the story.
class pg_database {
public:
  pg_database() {
    static std::atomic<int> made{0};
    name_ = "dairector_test_" + std::to_string(::getpid()) + "_" + std::to_string(++made);
    pg_raw(test_pg_uri()).exec("CREATE DATABASE " + name_ + " TEMPLATE template0");
    uri_ = with_database(test_pg_uri(), name_);
  }
  ~pg_database() {
    PGconn* c = PQconnectdb(test_pg_uri().c_str());
    PQclear(PQexec(c, ("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)").c_str()));
    PQfinish(c);
  }
  pg_database(const pg_database&) = delete;
  pg_database& operator=(const pg_database&) = delete;

  const std::string& uri() const { return uri_; }
  const std::string& name() const { return name_; }

private:
  std::string name_, uri_;
};

}  // namespace dairector::test
