// What only a journal shared by many writers does (PostgreSQL,
// journal/include/dairector/journal/postgresql.hpp), on the tests' cluster
// (DAIRECTOR_TEST_PG): fencing between two stores on one database, a
// pipeline created by two at once, a lost connection, the password kept
// out of every message, two servers creating the schema at once.
#include <thread>

#include "journal/journal_fixtures.hpp"
#include "journal/pg_fixture.hpp"

using namespace dairector;
using namespace dairector::test;

namespace {

journal_options as_node(std::string node) {
  journal_options opt;
  opt.owner = std::move(node);
  return opt;
}

std::vector<event> slice(const history& h, std::uint64_t from, std::uint64_t to) {
  return {h.events().begin() + static_cast<std::ptrdiff_t>(from - 1),
          h.events().begin() + static_cast<std::ptrdiff_t>(to)};
}

std::string fenced_refusal(const std::optional<error>& err) {
  BOOST_REQUIRE_MESSAGE(err.has_value(), "the append should have been fenced");
  BOOST_CHECK_EQUAL(err->code, errc::fenced);
  return err->message;
}

std::string require_pg() {
  BOOST_REQUIRE_MESSAGE(!test_pg_uri().empty(), "DAIRECTOR_TEST_PG is not set (ctest starts the cluster: pg.start)");
  return test_pg_uri();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shared_journal)

// A takes over nothing; B takes one of A's pipelines: from then on none of
// A's events of it lands, while A's other pipelines carry on in the same
// append, and B writes on from where the history really ends.
BOOST_AUTO_TEST_CASE(a_writer_whose_pipeline_was_taken_over_is_fenced) {
  require_pg();
  pg_database db;
  history taken(line_spec(), "taken"), kept(line_spec(), "kept");
  run_to_end(taken);
  run_to_end(kept);
  auto a = must_open(db.uri(), as_node("node-a"));
  auto b = must_open(db.uri(), as_node("node-b"));
  must_append(*a, slice(taken, 1, 3));
  must_append(*a, slice(kept, 1, 3));
  pg_raw raw(db.uri());
  BOOST_CHECK_EQUAL(raw.text("SELECT node || ' ' || epoch FROM dairector.owners WHERE pipeline = 'taken'"), "node-a 1");

  auto epoch = b->own("taken");
  BOOST_REQUIRE_MESSAGE(epoch.ok(), describe(epoch));
  BOOST_CHECK_EQUAL(*epoch, 2u);
  BOOST_CHECK(b->own("never-created").err().code == errc::not_found);

  std::vector<event> mixed = slice(taken, 4, 5);  // A does not know yet
  for (const event& e : slice(kept, 4, 5)) mixed.push_back(e);
  const std::string why = fenced_refusal(a->append(mixed));
  JOURNAL_CHECK_CONTAINS(why, "pipeline 'taken' (owner now: node-b at epoch 2) is not this writer's any more");
  BOOST_CHECK(!contains(why, "'kept'"));
  BOOST_CHECK(a->take_fenced() == std::vector<std::string>{"taken"});
  BOOST_CHECK(a->take_fenced().empty());
  // The survivors were written in a transaction of their own, right after
  // pos 6 (the six before): the append says so (the live event stream's
  // positions come from it).
  BOOST_CHECK_EQUAL(a->last_append_pos(), 7u);
  auto survivors = a->events_after(6, 10);
  BOOST_REQUIRE_MESSAGE(survivors.ok(), describe(survivors));
  BOOST_REQUIRE_EQUAL(survivors->size(), 2u);
  BOOST_CHECK_EQUAL(survivors->front().e.pipeline, "kept");
  BOOST_CHECK_EQUAL(survivors->front().e.seq, 4u);
  // A's other pipeline's events landed, and A takes further writes.
  check_same_events(must_read(*a, "kept"), slice(kept, 1, 5));
  must_append(*a, slice(kept, 6, kept.seq()));
  // Still fenced on the next try, alone.
  fenced_refusal(a->append(slice(taken, 4, 4)));
  a->take_fenced();
  // A store that never took a pipeline is fenced too, even under the same node name.
  auto again = must_open(db.uri(), as_node("node-a"));
  history kept_more = kept;
  kept_more.change_context("a");
  BOOST_CHECK_EQUAL(again->append(std::span<const event>(&kept_more.events().back(), 1))->code, errc::fenced);
  // B goes on from the durable seq 3: nothing of A's after B's own.
  must_append(*b, slice(taken, 4, taken.seq()));
  check_same_events(must_read(*b, "taken"), taken.events());
  check_same_events(must_read(*a, "kept"), kept.events());

  // A clean hand-over: B lets go (the epoch stays), A takes it at epoch 3
  // and B, the old owner, is fenced in turn.
  BOOST_CHECK(!b->disown("taken"));
  BOOST_CHECK_EQUAL(raw.text("SELECT '[' || node || '] ' || epoch FROM dairector.owners WHERE pipeline = 'taken'"),
                    "[] 2");
  BOOST_CHECK_EQUAL(*a->own("taken"), 3u);
  history more = taken;
  more.change_context("a");
  BOOST_CHECK_EQUAL(b->append(std::span<const event>(&more.events().back(), 1))->code, errc::fenced);
  BOOST_CHECK_EQUAL(raw.text("SELECT count(*) FROM dairector.events WHERE pipeline = 'taken'"),
                    std::to_string(taken.seq()));
}

// Two stores create the same pipeline id: the second one's creation is
// refused as another's pipeline (fenced), not a fault of its store.
BOOST_AUTO_TEST_CASE(a_pipeline_created_by_two_writers_belongs_to_the_first) {
  require_pg();
  pg_database db;
  history h(line_spec(), "same"), theirs(diamond_spec(), "same"), other(line_spec(), "other");
  auto a = must_open(db.uri(), as_node("node-a"));
  auto b = must_open(db.uri(), as_node("node-b"));
  // B checks a batch creating "same" before A commits it: B's idea of its
  // durable seq is 0 from then on (the batch is refused for a seq gap).
  std::vector<event> early = theirs.events();
  history skip = theirs;
  skip.change_context("a");
  skip.change_context("a");
  early.push_back(skip.events().back());  // seq 3 after seq 1
  journal_refusal(b->append(early));
  must_append(*a, h.events());
  std::vector<event> both = theirs.events();
  for (const event& e : other.events()) both.push_back(e);
  JOURNAL_CHECK_CONTAINS(fenced_refusal(b->append(both)), "'same'");
  check_same_events(must_read(*b, "other"), other.events());
  check_same_events(must_read(*b, "same"), h.events());
  BOOST_CHECK(b->take_fenced() == std::vector<std::string>{"same"});
}

// The connection dies under the writer (the server ended it): the append
// fails with libpq's reason, and the store takes no more writes.
BOOST_AUTO_TEST_CASE(a_lost_connection_stops_the_writer) {
  require_pg();
  pg_database db;
  history h(line_spec());
  run_to_end(h);
  auto j = must_open(db.uri());
  must_append(*j, slice(h, 1, 3));
  pg_raw raw(db.uri());
  raw.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
           " AND pid <> pg_backend_pid()");
  const std::string why = journal_refusal(j->append(slice(h, 4, 5)));
  JOURNAL_CHECK_CONTAINS(why, "write failed");
  JOURNAL_CHECK_CONTAINS(why, "terminat");
  JOURNAL_CHECK_CONTAINS(journal_refusal(j->append(slice(h, 4, 5))), "failed earlier");
  // Reads connect again; nothing of the failed append is there.
  check_same_events(must_read(*j, "p-1"), slice(h, 1, 3));
  auto next = must_open(db.uri());
  BOOST_REQUIRE(next->own("p-1").ok());
  must_append(*next, slice(h, 4, h.seq()));
}

// libpq quotes what it was given (a role, a database); the password in the
// URI, wherever it is written, never appears in a message or in path().
BOOST_AUTO_TEST_CASE(a_password_never_appears_in_a_message) {
  const std::string base = require_pg();
  const std::string host = base.substr(base.find("host=") + 5, base.find('&') - base.find("host=") - 5);
  struct attempt {
    std::string uri, secret, reason;
  };
  const std::vector<attempt> attempts{
      // libpq quotes a password it cannot decode: 'invalid percent-encoded token: "..."'.
      {"postgresql://dairector:pa%zzss@/postgres?host=" + host, "pa%zzss", "percent-encoded"},
      {"postgresql://nobody_here:hunter2@/postgres?host=" + host, "hunter2", "role \"nobody_here\" does not exist"},
      {"postgres:///no_such_db?host=" + host + "&user=dairector&password=s3cr%45t", "s3cr", "does not exist"},
      {"postgresql://dairector:pa55word@/postgres?host=/nonexistent/socket", "pa55word", "No such file"},
  };
  for (const attempt& a : attempts) {
    BOOST_TEST_CONTEXT(a.reason) {
      auto j = open_journal(a.uri);
      const std::string why = journal_refusal(j);
      JOURNAL_CHECK_CONTAINS(why, a.reason);
      JOURNAL_CHECK_CONTAINS(why, "***");
      BOOST_CHECK_MESSAGE(!contains(why, a.secret), "the password is in: " << why);
    }
  }
  // Trust authentication ignores a password: the store opens, and names itself without it.
  pg_database db;
  const std::string uri = with_database("postgresql://dairector:hunter2@/x?host=" + host, db.name());
  auto j = must_open(uri);
  BOOST_CHECK(!contains(j->path(), "hunter2"));
  JOURNAL_CHECK_CONTAINS(j->path(), "dairector:***@");
  JOURNAL_CHECK_CONTAINS(redact_journal_name("postgres:///d?password=a&user=u"), "password=***&user=u");
}

// Two servers starting at once on a fresh database create the schema once.
BOOST_AUTO_TEST_CASE(two_writers_create_the_schema_at_once) {
  require_pg();
  pg_database db;
  std::array<std::string, 4> errors;
  std::vector<std::thread> starting;
  for (std::size_t k = 0; k < errors.size(); ++k)
    starting.emplace_back([&, k] {
      auto j = open_journal(db.uri(), as_node("node-" + std::to_string(k)));
      if (!j) errors[k] = j.err().message;
    });
  for (std::thread& t : starting) t.join();
  for (const std::string& e : errors) BOOST_CHECK_MESSAGE(e.empty(), e);
  pg_raw raw(db.uri());
  BOOST_CHECK_EQUAL(raw.text("SELECT value FROM dairector.meta WHERE key = 'format_version'"), "1");
  BOOST_CHECK_EQUAL(raw.text("SELECT count(*) FROM dairector.head"), "1");
}

// A schema named dairector that is not ours is refused, and left alone.
BOOST_AUTO_TEST_CASE(a_schema_that_is_not_a_journal_is_refused) {
  require_pg();
  pg_database db;
  pg_raw raw(db.uri());
  raw.exec("CREATE SCHEMA dairector; CREATE TABLE dairector.meta(key text, value text);"
           " INSERT INTO dairector.meta VALUES('format_version', 'banana')");
  JOURNAL_CHECK_CONTAINS(journal_refusal(open_journal(db.uri())), "not a dairector journal");
  BOOST_CHECK_EQUAL(raw.text("SELECT value FROM dairector.meta"), "banana");
}

BOOST_AUTO_TEST_SUITE_END()
