// Many servers on PostgreSQL (docs/cluster.md): durable transitions/s and
// failover time. One JSON object on stdout, a table on stderr.
//
// Throughput: journal_bench's workload (1,000 pipelines of the 6-stage chain
// of no-op handlers looping through on_failure, 13 x (rounds + 1)
// transitions each) on the PostgreSQL journal behind the group-committing
// durable_journal actor, in a fresh database per repetition:
//   (a) one server: one store, one journal actor;
//   (b) two servers sharing the database: two stores with different node
//       names, two journal actors, 500 pipelines each, in this one process
//       (it measures the journal path of two servers, not two machines);
//   (c) the SQLite journal, same workload (a file in the current folder);
//   (d) the baseline: raw batched INSERTs of the same rows through libpq into
//       a table of the events table's shape, in a fresh database: keys
//       round-robin over 1,000 pipelines, bodies of the size the workload
//       writes, one multi-row INSERT (unnest of arrays) per transaction of
//       the batch size (a) reached, synchronous_commit = on;
//   and, to tell where a gap to (d) lies, the same rows through the
//   journal's own statements without the journal (owners locked, positions
//   from `head`).
// A run ends when every pipeline is done and every journal has answered a
// sync (everything durable). CPU: this process (supervisors, journal,
// libpq) and, where the database runs on this machine, its server processes.
//
// Failover (cluster_failover.cpp): two real `dairector serve` processes,
// SIGKILL of the owner of a pipeline whose stage is always running; the time
// from the kill to the first event the other server writes for it.
//
//   cluster_bench --pg URI [--dairector PATH] [--quick] [--repetitions N] [--seconds S]
//                 [--kills N] [--lease-ms N] [--threads N] [--parts throughput,failover]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <span>
#include <thread>

#include <sqlite3.h>

#include <dairector/dairector.hpp>
#include <dairector/journal/open.hpp>

#include "bench_support.hpp"
#include "cluster_support.hpp"
#include "journal_workload.hpp"
#include "supervisor_workload.hpp"

using namespace dairector;
using namespace dairector::bench;

namespace {

constexpr int pipelines_total = 1'000;
constexpr int warmup_pipelines = 100;  // per journal, one pass each, untimed

struct options {
  bool quick = false;
  std::string pg, dairector = DAIRECTOR_BIN;
  int repetitions = 3;
  double seconds = 3.0;  // target length of one timed repetition
  int kills = 20;
  std::int64_t lease_ms = 5'000;
  std::size_t threads = 0;
  bool throughput = true, failover = true;
};

enum class setup { pg_one, pg_two, sqlite };

const char* name_of(setup s) {
  return s == setup::pg_one ? "postgresql_one_server" : s == setup::pg_two ? "postgresql_two_servers" : "sqlite";
}

struct run_stats {
  double seconds = 0, cpu = 0, db_cpu = -1;
  std::uint64_t transitions = 0, commits = 0, events = 0;
  double per_s() const { return seconds > 0 ? double(transitions) / seconds : 0; }
  double cpu_us() const { return transitions > 0 ? cpu * 1e6 / double(transitions) : 0; }
  double db_cpu_us() const { return transitions > 0 && db_cpu >= 0 ? db_cpu * 1e6 / double(transitions) : -1; }
  double events_per_commit() const { return commits > 0 ? double(events) / double(commits) : 0; }
};

caf::actor open_durable(caf::actor_system& sys, const std::string& where, const std::string& owner) {
  journal_options o;  // sync full: synchronous_commit = on, SQLite synchronous = FULL
  o.owner = owner;
  auto store = open_journal(where, o);
  if (!store) die(store.err().message);
  return actors::spawn_durable_journal(sys, std::shared_ptr<journal_store>(std::move(*store)));
}

void close_durable(caf::scoped_actor& self, const caf::actor& journal) {
  self->monitor(journal);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {});
}

// `pipelines` supervisors of looping_spec(rounds), the k-th on journals[k %
// n], run to their end; timed from the first spawn until every journal has
// answered a sync (all their events durable). Checks that every pipeline
// ended done and that the journals hold exactly their events.
run_stats run_on(caf::actor_system& sys, const std::vector<caf::actor>& journals, int pipelines, int rounds,
                 const std::shared_ptr<actors::local_workers>& workers, const std::string& prefix, pg_cluster* db) {
  caf::scoped_actor self{sys};
  std::vector<std::vector<std::uint64_t>> before;
  for (const auto& j : journals) before.push_back(journal_stats(self, j));
  const auto spec = looping_spec(rounds);
  auto sups = std::make_shared<std::vector<caf::actor>>();
  sups->reserve(static_cast<std::size_t>(pipelines));
  const auto db_before = db ? db->server_cpu() : std::map<int, double>{};
  run_stats out;
  const auto start = clock_type::now();
  const double cpu0 = process_cpu_s();
  for (int p = 0; p < pipelines; ++p) {
    actors::supervisor_config sc;
    sc.pipeline = prefix + std::to_string(p);
    sc.spec = spec;
    sc.journal = journals[static_cast<std::size_t>(p) % journals.size()];
    sc.workers = workers;
    sups->push_back(actors::spawn_supervisor(sys, sc));
  }
  sys.spawn(end_collector, std::shared_ptr<const std::vector<caf::actor>>(sups), caf::actor{self});
  std::uint64_t not_done = 0;
  self->receive([&](caf::ok_atom, std::uint64_t transitions, std::uint64_t nd) {
    out.transitions = transitions;
    not_done = nd;
  });
  for (const auto& j : journals)
    self->request(j, caf::infinite, actors::journal_sync_atom::value)
        .receive([](std::uint64_t) {}, [&](caf::error& err) { die("journal sync: " + to_string(err)); });
  out.seconds = seconds_since(start);
  out.cpu = process_cpu_s() - cpu0;
  if (db) out.db_cpu = pg_cluster::cpu_between(db_before, db->server_cpu());
  for (std::size_t k = 0; k < journals.size(); ++k) {
    const auto after = journal_stats(self, journals[k]);
    out.commits += after[0] - before[k][0];
    out.events += after[1] - before[k][1];
  }
  for (auto& s : *sups) self->send(s, actors::stop_atom::value);
  if (not_done > 0) die(std::to_string(not_done) + " pipelines did not end done");
  if (out.events != out.transitions)
    die("the journals hold " + std::to_string(out.events) + " events of the run, its pipelines made " +
        std::to_string(out.transitions));
  return out;
}

// One repetition of a setup on a fresh database (or file): open, warm up
// (untimed: 100 one-pass pipelines per journal), the timed run, close.
run_stats measure(caf::actor_system& sys, setup s, int rounds, pg_cluster* cluster, const std::string& sqlite_path,
                  const std::shared_ptr<actors::local_workers>& workers, int rep) {
  std::string where;
  if (s == setup::sqlite) {
    remove_journal_files(sqlite_path);
    where = sqlite_path;
  } else {
    where = cluster->fresh(std::string(s == setup::pg_one ? "one" : "two") + std::to_string(rep));
  }
  std::vector<caf::actor> journals{open_durable(sys, where, "bench-a")};
  if (s == setup::pg_two) journals.push_back(open_durable(sys, where, "bench-b"));
  run_on(sys, journals, warmup_pipelines * static_cast<int>(journals.size()), 0, workers, "w", nullptr);
  if (s == setup::sqlite) settle(sqlite_path);
  auto out = run_on(sys, journals, pipelines_total, rounds, workers, "p", s == setup::sqlite ? nullptr : cluster);
  caf::scoped_actor self{sys};
  for (const auto& j : journals) close_durable(self, j);
  if (s == setup::sqlite) remove_journal_files(sqlite_path);
  return out;
}

// ---------------------------------------------------------------------------
// The baselines through libpq: raw batched INSERTs, and the journal's own
// statements replayed without the journal.

struct insert_run {
  double seconds = 0, cpu = 0, db_cpu = -1;
  std::uint64_t rows = 0, commits = 0;
  double per_s() const { return seconds > 0 ? double(rows) / seconds : 0; }
};

enum class insert_mode {
  raw,       // one INSERT ... unnest per transaction (autocommit)
  statements // what a fenced append of the PostgreSQL journal runs (journal/postgresql/pg_append.cpp)
};

const char* const baseline_table =
    "CREATE TABLE events(pos bigint PRIMARY KEY, pipeline text NOT NULL, seq bigint NOT NULL, type text NOT NULL,"
    " at_ms bigint NOT NULL, \"by\" text NOT NULL, body text NOT NULL, crc bigint NOT NULL, UNIQUE(pipeline, seq))";
const char* const raw_insert =
    "INSERT INTO events(pos, pipeline, seq, type, at_ms, \"by\", body, crc) SELECT * FROM"
    " unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])";
// The journal's statements, as pg_append.cpp has them: the owners rows of
// the batch's pipelines locked and read (fencing), then the insert that
// takes its positions from `head`. Kept beside the journal's by hand: this
// baseline tells what the SQL of an append costs without the actors, the
// append checks and the encoding.
const char* const journal_lock =
    "SELECT pipeline, node, epoch FROM dairector.owners WHERE pipeline = ANY($1::text[]) ORDER BY pipeline FOR SHARE";
const char* const journal_insert =
    "WITH h AS (UPDATE dairector.head SET pos = pos + $1 RETURNING pos - $1 AS base)"
    " INSERT INTO dairector.events(pos, pipeline, seq, type, at_ms, \"by\", body, crc)"
    " SELECT h.base + u.o, u.p, u.s, u.t, u.a, u.b, u.body, u.c FROM h,"
    " unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[])"
    " WITH ORDINALITY AS u(p, s, t, a, b, body, c, o)";

void must_run(pg::connection& db, const char* sql, std::span<const std::string> params = {}) {
  auto a = db.run(sql, params);
  if (!a.ok()) die(std::string("baseline: ") + a.why);
}

// Rows first..first+batch as raw_sqlite::insert_row makes them (the
// journal's columns; pipelines round-robin, seq following on per pipeline),
// written in one transaction.
void insert_batch(pg::connection& db, insert_mode mode, const row_source& rs, std::uint64_t first, std::size_t batch) {
  std::string pos = "{", pipeline = "{", seq = "{", type = "{", at_ms = "{", by = "{", body = "{", crc = "{", ids = "{";
  const std::uint64_t n = rs.pipelines.size();
  for (std::uint64_t i = first; i < first + batch; ++i) {
    const std::size_t b = static_cast<std::size_t>(i % rs.bodies.size());
    pg::append_integer_array_item(pos, static_cast<std::int64_t>(i + 1));
    pg::append_text_array_item(pipeline, rs.pipelines[static_cast<std::size_t>(i % n)]);
    if (i < first + n) pg::append_text_array_item(ids, rs.pipelines[static_cast<std::size_t>(i % n)]);
    pg::append_integer_array_item(seq, static_cast<std::int64_t>(i / n + 1));
    pg::append_text_array_item(type, rs.types[b]);
    pg::append_integer_array_item(at_ms, 1'700'000'000'000LL + static_cast<std::int64_t>(i));
    pg::append_text_array_item(by, "worker:bench");
    pg::append_text_array_item(body, rs.bodies[b]);
    pg::append_integer_array_item(crc, static_cast<std::int64_t>((i * 2654435761u) & 0xffffffffu));  // a stand-in
  }
  for (std::string* a : {&pos, &pipeline, &seq, &type, &at_ms, &by, &body, &crc, &ids}) pg::close_array(*a);
  if (mode == insert_mode::raw) {
    const std::vector<std::string> params{pos, pipeline, seq, type, at_ms, by, body, crc};
    return must_run(db, raw_insert, params);
  }
  must_run(db, "BEGIN");
  const std::vector<std::string> lock{ids};
  must_run(db, journal_lock, lock);
  const std::vector<std::string> params{std::to_string(batch), pipeline, seq, type, at_ms, by, body, crc};
  must_run(db, journal_insert, params);
  must_run(db, "COMMIT");
}

// On a fresh database (raw: a table of the events table's shape;
// statements: the journal's schema, made by the journal, its pipelines
// owned): an untimed warm-up of 1,000 rows, then batches for at least
// `seconds` (and 20 batches).
insert_run timed_inserts(pg_cluster& cluster, insert_mode mode, const row_source& rs, std::size_t batch,
                         double seconds, int rep) {
  const std::string uri = cluster.fresh((mode == insert_mode::raw ? "raw" : "sql") + std::to_string(rep));
  if (mode == insert_mode::statements) {
    auto store = open_journal(uri, journal_options{});
    if (!store) die(store.err().message);
  }
  pg::connection db(uri, {"SET synchronous_commit = on"});
  if (auto why = db.ensure()) die("baseline: " + *why);
  if (mode == insert_mode::raw) {
    must_run(db, baseline_table);
  } else {
    std::string ids = "{";
    for (const auto& p : rs.pipelines) pg::append_text_array_item(ids, p);
    pg::close_array(ids);
    const std::vector<std::string> params{ids};
    must_run(db, "INSERT INTO dairector.owners(pipeline, node, epoch) SELECT p, 'bench', 1 FROM unnest($1::text[]) p",
             params);
  }
  std::uint64_t i = 0;
  while (i < 1'000) insert_batch(db, mode, rs, i, batch), i += batch;
  insert_run out;
  const auto db_before = cluster.server_cpu();
  const auto start = clock_type::now();
  const double cpu0 = process_cpu_s();
  const std::uint64_t first = i;
  while (out.commits < 20 || seconds_since(start) < seconds) {
    insert_batch(db, mode, rs, i, batch);
    i += batch;
    ++out.commits;
  }
  out.seconds = seconds_since(start);
  out.cpu = process_cpu_s() - cpu0;
  out.db_cpu = pg_cluster::cpu_between(db_before, cluster.server_cpu());
  out.rows = i - first;
  return out;
}

json inserts_summary(const std::vector<insert_run>& runs) {
  std::vector<double> rates, cpu, db_cpu;
  for (const auto& x : runs) {
    rates.push_back(x.per_s());
    cpu.push_back(x.rows > 0 ? x.cpu * 1e6 / double(x.rows) : 0);
    if (x.db_cpu >= 0 && x.rows > 0) db_cpu.push_back(x.db_cpu * 1e6 / double(x.rows));
  }
  return {{"rows_per_s_median", summarize(rates).median},
          {"runs", rates},
          {"cpu_us_per_row_median", summarize(cpu).median},
          {"database_cpu_us_per_row_median", db_cpu.empty() ? json(nullptr) : json(summarize(db_cpu).median)}};
}

json summary_of(const std::vector<run_stats>& runs) {
  std::vector<double> rates, cpu, db_cpu, epc, secs;
  for (const auto& r : runs) {
    rates.push_back(r.per_s());
    cpu.push_back(r.cpu_us());
    if (r.db_cpu_us() >= 0) db_cpu.push_back(r.db_cpu_us());
    epc.push_back(r.events_per_commit());
    secs.push_back(r.seconds);
  }
  return {{"transitions_per_s_median", summarize(rates).median},
          {"runs", rates},
          {"runs_seconds", secs},
          {"transitions_per_repetition", runs.empty() ? 0 : runs.front().transitions},
          {"events_per_commit_median", summarize(epc).median},
          {"cpu_us_per_transition_median", summarize(cpu).median},
          {"database_cpu_us_per_transition_median", db_cpu.empty() ? json(nullptr) : json(summarize(db_cpu).median)}};
}

}  // namespace

int main(int argc, char** argv) {
  die_prefix = "cluster_bench";
  options opt;
  bool seconds_given = false, kills_given = false, lease_given = false;
  for (int k = 1; k < argc; ++k) {
    const std::string a = argv[k];
    auto value = [&]() -> std::string {
      if (k + 1 >= argc) die(a + " needs a value");
      return argv[++k];
    };
    auto count = [&](std::uint64_t lo, std::uint64_t hi) {
      const std::string v = value();
      auto n = parse_count(v, lo, hi);
      if (!n) die(a + " " + v + ": expected a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return *n;
    };
    if (a == "--quick") opt.quick = true;
    else if (a == "--pg") opt.pg = value();
    else if (a == "--dairector") opt.dairector = value();
    else if (a == "--repetitions") opt.repetitions = static_cast<int>(count(1, 100));
    else if (a == "--seconds") opt.seconds = std::max(0.05, std::atof(value().c_str())), seconds_given = true;
    else if (a == "--kills") opt.kills = static_cast<int>(count(1, 1'000)), kills_given = true;
    else if (a == "--lease-ms") opt.lease_ms = static_cast<std::int64_t>(count(200, 600'000)), lease_given = true;
    else if (a == "--threads") opt.threads = static_cast<std::size_t>(count(1, 256));
    else if (a == "--parts") {
      const std::string parts = "," + value() + ",";
      opt.throughput = parts.find(",throughput,") != std::string::npos;
      opt.failover = parts.find(",failover,") != std::string::npos;
    } else {
      std::cerr << "usage: cluster_bench --pg URI [--dairector PATH] [--quick] [--repetitions N] [--seconds S]\n"
                   "                     [--kills N] [--lease-ms N] [--threads N] [--parts throughput,failover]\n";
      return 2;
    }
  }
  if (opt.pg.empty()) die("--pg URI is required (a PostgreSQL URI; tools/bench.sh starts a private cluster)");
  if (!is_postgresql_uri(opt.pg)) die("--pg: not a postgresql:// URI");
  if (opt.quick) {
    opt.repetitions = 1;
    if (!seconds_given) opt.seconds = 0.3;
    if (!kills_given) opt.kills = 3;
    if (!lease_given) opt.lease_ms = 1'000;
  }
  std::atexit(kill_live_children);

  // The scratch folder: in the current one (the SQLite file measures this disk; /tmp may be tmpfs).
  std::error_code ec;
  const fs::path scratch = fs::current_path() / ("cluster_bench." + std::to_string(::getpid()));
  fs::create_directories(scratch, ec);
  if (ec) die("cannot create " + scratch.string() + ": " + ec.message());
  scratch_to_remove = scratch.string();
  // Before any thread starts: the servers' token and credentials stay in the scratch folder.
  ::setenv("XDG_CONFIG_HOME", (scratch / "config").c_str(), 1);

  pg_cluster cluster(opt.pg);
  caf::actor_system_config cfg;
  configure_bench_system(cfg, opt.threads);
  caf::actor_system sys{cfg};
  auto workers = noop_workers();
  const double load_start = load_average_1m();
  const std::string pg_version = cluster.version();
  std::cerr << "cluster_bench: " << std::thread::hardware_concurrency() << " cores, CAF scheduler threads "
            << sys.scheduler().num_workers() << ", PostgreSQL " << pg_version << " at " << redact_journal_name(opt.pg)
            << ", SQLite " << sqlite3_libversion() << (opt.quick ? " (quick)" : "") << ", load average " << load_start
            << "\n";

  json throughput = nullptr;
  double one_server = 0, raw = 0;
  if (opt.throughput) {
    // Rounds for about --seconds a repetition, from a one-pass pilot (full
    // runs only), and never fewer than rounds_min: a pipeline's creation
    // costs the PostgreSQL journal more than a transition (its owners row),
    // so a run of one pass would measure creations, not transitions.
    constexpr int rounds_min = 2;
    auto rounds_for = [&](double rate) {
      const double most = double(stage_attempts_max) - 2;
      return static_cast<int>(
          std::clamp(std::round(rate * opt.seconds / (13.0 * pipelines_total)) - 1, double(rounds_min), most));
    };
    const std::string sqlite_path = (scratch / "journal.db").string();
    std::map<setup, std::vector<run_stats>> runs;
    std::map<setup, int> rounds;
    json pilots = json::object();
    for (setup s : {setup::pg_one, setup::pg_two, setup::sqlite}) {
      rounds[s] = rounds_min;
      if (!opt.quick) {
        const auto pilot = measure(sys, s, 0, &cluster, sqlite_path, workers, 99);
        rounds[s] = rounds_for(pilot.per_s());
        pilots[name_of(s)] = {{"rounds", 0}, {"transitions_per_s", pilot.per_s()}};
      }
    }
    for (int r = 0; r < opt.repetitions; ++r)
      for (setup s : {setup::pg_one, setup::pg_two, setup::sqlite})
        runs[s].push_back(measure(sys, s, rounds[s], &cluster, sqlite_path, workers, r));

    // The baseline at the batch size the one-server journal reached.
    const json one = summary_of(runs[setup::pg_one]);
    const auto batch = static_cast<std::size_t>(std::max(1.0, std::round(one["events_per_commit_median"].get<double>())));
    const auto spec = looping_spec(50);
    auto history = record_history(sys, 50, workers);
    if (!history) die(history.err().message);
    const row_source rs = make_row_source(*history, *spec, pipelines_total);
    std::vector<insert_run> raw_runs, sql_runs;
    for (int r = 0; r < opt.repetitions; ++r) {
      raw_runs.push_back(timed_inserts(cluster, insert_mode::raw, rs, batch, opt.seconds, r));
      sql_runs.push_back(timed_inserts(cluster, insert_mode::statements, rs, batch, opt.seconds, r));
    }
    json baseline = inserts_summary(raw_runs);
    raw = baseline["rows_per_s_median"].get<double>();
    baseline.update(json{
        {"rows_per_transaction", batch},
        {"batch_from", "the one-server journal's events per commit (median), rounded"},
        {"body_bytes_mean", rs.body_bytes_mean},
        {"pipelines", pipelines_total},
        {"what", "one INSERT ... SELECT FROM unnest(8 arrays) per transaction (autocommit) through libpq, "
                 "synchronous_commit = on, into a table of the events table's shape (pos bigint PRIMARY KEY, "
                 "UNIQUE(pipeline, seq)) in a fresh database; keys round-robin over 1,000 pipelines"}});
    json statements = inserts_summary(sql_runs);
    statements["ratio_to_raw_insert"] = raw > 0 ? statements["rows_per_s_median"].get<double>() / raw : 0;
    statements["what"] = "the same rows and batches through the PostgreSQL journal's own statements, without the "
                         "journal: BEGIN; the batch's owners rows locked FOR SHARE (fencing); the INSERT taking its "
                         "positions from dairector.head; COMMIT (a diagnostic: what the SQL of an append costs)";

    json results = json::array();
    std::cerr << "\nsetup (1,000 pipelines)           rounds  transitions/s (median)  vs raw INSERT  events/commit"
                 "  CPU us/transition (this process + database)\n";
    for (setup s : {setup::pg_one, setup::pg_two, setup::sqlite}) {
      json j = summary_of(runs[s]);
      const double med = j["transitions_per_s_median"].get<double>();
      j["setup"] = name_of(s);
      j["rounds"] = rounds[s];
      j["pipelines"] = pipelines_total;
      j["journals"] = s == setup::pg_two ? 2 : 1;
      j["ratio_to_raw_insert"] = raw > 0 ? med / raw : 0;
      j["pilot"] = pilots.contains(name_of(s)) ? pilots[name_of(s)] : json(nullptr);
      if (s == setup::pg_two)
        j["note"] = "two stores (node names bench-a, bench-b) and two journal actors, 500 pipelines each, in one "
                    "process on one database: the journal path of two servers, not two machines";
      if (s == setup::pg_one) one_server = med;
      const double db_us = j["database_cpu_us_per_transition_median"].is_number()
                               ? j["database_cpu_us_per_transition_median"].get<double>() : -1;
      std::fprintf(stderr, "%-32s  %6d  %22.0f  %13.3f  %13.1f  %10.1f + %s\n", name_of(s), rounds[s], med,
                   raw > 0 ? med / raw : 0, j["events_per_commit_median"].get<double>(),
                   j["cpu_us_per_transition_median"].get<double>(),
                   db_us >= 0 ? std::to_string(static_cast<int>(std::lround(db_us))).c_str() : "n/a");
      results.push_back(j);
    }
    auto row_line = [&](const char* label, const json& j) {
      const auto& db = j["database_cpu_us_per_row_median"];
      std::fprintf(stderr, "%-32s  %6s  %22.0f  %13.3f  %13zu  %10.1f + %s\n", label, "-",
                   j["rows_per_s_median"].get<double>(), raw > 0 ? j["rows_per_s_median"].get<double>() / raw : 0,
                   batch, j["cpu_us_per_row_median"].get<double>(),
                   db.is_number() ? std::to_string(std::lround(db.get<double>())).c_str() : "n/a");
    };
    row_line("raw batched INSERT (rows/s)", baseline);
    row_line("journal's statements (rows/s)", statements);
    std::fprintf(stderr, "(baselines through libpq, %zu rows a transaction; bodies %.0f bytes on average)\n", batch,
                 rs.body_bytes_mean);
    throughput = {{"results", results}, {"baseline", baseline}, {"journal_statements", statements}};
  }

  json failover = nullptr;
  if (opt.failover) failover = measure_failover(cluster, opt.dairector, scratch.string(), opt.lease_ms, opt.kills);

  const double load_end = load_average_1m();
  auto target = [](bool measured, double value, double goal, bool at_least) -> json {
    if (!measured) return {{"target", goal}, {"measured", nullptr}, {"met", nullptr}};
    return {{"target", goal}, {"measured", value}, {"met", at_least ? value >= goal : value <= goal}};
  };
  const double bound = double(opt.lease_ms + 1'000);
  json targets = {
      {"one_server_vs_raw_insert", target(opt.throughput && raw > 0, raw > 0 ? one_server / raw : 0, 0.5, true)},
      {"failover_p50_ms", target(opt.failover, opt.failover ? failover["p50_ms"].get<double>() : 0, bound, false)},
      {"failover_max_ms", target(opt.failover, opt.failover ? failover["max_ms"].get<double>() : 0, bound, false)}};
  std::cerr << "\ntargets:\n";
  for (auto& [name, t] : targets.items())
    std::cerr << "  " << name << ": target " << t["target"].dump() << ", measured "
              << (t["measured"].is_null() ? std::string("not measured") : t["measured"].dump()) << ", "
              << (t["met"].is_null() ? "n/a" : t["met"].get<bool>() ? "met" : "MISSED") << "\n";
  if (std::max(load_start, load_end) > double(std::thread::hardware_concurrency()))
    std::fprintf(stderr, "\nWARNING: load average %.2f at the start, %.2f at the end, over %u cores: other processes "
                 "competed for the CPU, so the figures are pessimistic\n", load_start, load_end,
                 std::thread::hardware_concurrency());

  json out = {
      {"benchmark", "cluster"},
      {"machine", {{"cores", std::thread::hardware_concurrency()},
                   {"cpu", cpu_model()},
                   {"scheduler_threads", sys.scheduler().num_workers()},
                   {"postgresql_version", pg_version},
                   {"sqlite_version", sqlite3_libversion()},
                   {"load_average_1m", {{"start", load_start}, {"end", load_end}}}}},
      {"config", {{"quick", opt.quick},
                  {"repetitions", opt.repetitions},
                  {"seconds_per_repetition_target", opt.seconds},
                  {"pipelines", pipelines_total},
                  {"spec", "6-stage chain looping through on_failure: 13 x (rounds + 1) transitions a pipeline"},
                  {"handler", "non-blocking no-op"},
                  {"journal", "open_journal(URI of a fresh database) (synchronous_commit = on) behind the "
                              "group-committing durable_journal actor (detached); SQLite: WAL, synchronous=FULL"},
                  {"end_of_run", "every pipeline done and every journal answered a sync (all events durable)"},
                  {"cpu", "process CPU of this benchmark (supervisors, journal, libpq); database: the CPU time of "
                          "the server processes pg_stat_activity lists, from /proc (null when not readable)"},
                  {"warm_up", "100 one-pass pipelines per journal, untimed, before each timed run"}}},
      {"throughput", throughput},
      {"failover", failover},
      {"targets", targets}};
  std::cout << out.dump(2) << "\n";
  fs::remove_all(scratch, ec);
  return 0;
}
