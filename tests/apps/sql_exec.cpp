// sql_exec FILE SQL: runs SQL on an SQLite file and prints the first column
// of each row, one per line. The shell tests damage journals with it behind
// the store's back (a deleted row, a changed column) without needing the
// sqlite3 shell. Exit 1 with SQLite's message on an error.
#include <sqlite3.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: sql_exec FILE SQL\n");
    return 2;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(argv[1], &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "sql_exec: %s: %s\n", argv[1], sqlite3_errmsg(db));
    sqlite3_close_v2(db);
    return 1;
  }
  auto print = [](void*, int columns, char** values, char**) {
    if (columns > 0) std::printf("%s\n", values[0] ? values[0] : "");
    return 0;
  };
  char* message = nullptr;
  const int rc = sqlite3_exec(db, argv[2], print, nullptr, &message);
  if (rc != SQLITE_OK) std::fprintf(stderr, "sql_exec: %s\n", message ? message : sqlite3_errstr(rc));
  sqlite3_free(message);
  sqlite3_close_v2(db);
  return rc == SQLITE_OK ? 0 : 1;
}
