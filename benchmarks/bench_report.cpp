// The performance report (issue 6): reads the one results file that
// tools/bench.sh writes and turns it into a markdown report with PNG charts
// drawn by gnuplot, and optionally into the README's performance section.
//
//   bench_report RESULTS.json OUT_DIR [--readme README.md --images PREFIX]
//
// Nothing here measures: every figure comes from RESULTS.json. A figure a run
// did not produce (a --quick run skips the large points) is shown as "not run",
// never guessed. Charts: transitions/s against concurrent pipelines, stages
// per pipeline and worker processes, each beside its same-run baselines; the
// growth of per-transition cost; recovery time against journal length. Many
// servers on PostgreSQL (cluster_bench, absent from older results files): a
// table beside its raw INSERT baseline, and the failover time.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

// --- reading the results --------------------------------------------------

/// The number at `path` ("a/b/c", array indices as numbers), if present.
std::optional<double> number_at(const json& root, const std::string& path) {
  const json* j = &root;
  std::istringstream parts(path);
  for (std::string key; std::getline(parts, key, '/');) {
    if (j->is_object() && j->contains(key)) {
      j = &(*j)[key];
    } else if (j->is_array() && !key.empty() && key.find_first_not_of("0123456789") == std::string::npos &&
               std::stoul(key) < j->size()) {
      j = &(*j)[std::stoul(key)];
    } else {
      return std::nullopt;
    }
  }
  if (!j->is_number()) return std::nullopt;
  return j->get<double>();
}

/// The rows of `list` whose fields equal every one of `where`.
std::vector<const json*> rows_where(const json& list, const std::vector<std::pair<std::string, json>>& where) {
  std::vector<const json*> out;
  if (!list.is_array()) return out;
  for (const auto& row : list) {
    bool match = row.is_object();
    for (auto it = where.begin(); match && it != where.end(); ++it)
      match = row.contains(it->first) && row[it->first] == it->second;
    if (match) out.push_back(&row);
  }
  return out;
}

const json& section(const json& results, const char* name) {
  static const json none = json::object();
  return results.contains(name) && results[name].is_object() ? results[name] : none;
}

/// The array `name` of an object (empty if absent): a reference, so the rows
/// that rows_where points to outlive the call.
const json& list(const json& object, const char* name) {
  static const json none = json::array();
  return object.contains(name) && object[name].is_array() ? object[name] : none;
}

// --- formatting -------------------------------------------------------------

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

/// 1234567 -> "1.23 M", 45600 -> "45.6 k".
std::string si(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fixed(v / 1e9, 2) + " G";
  if (a >= 1e6) return fixed(v / 1e6, std::fmod(v, 1e6) == 0 ? 0 : 2) + " M";
  if (a >= 1e3) return fixed(v / 1e3, a >= 1e5 || std::fmod(v, 1e3) == 0 ? 0 : 1) + " k";
  if (v == std::floor(v)) return fixed(v, 0);
  return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

std::string bytes(double v) {
  if (v >= 1 << 30) return fixed(v / (1 << 30), 2) + " GiB";
  if (v >= 1 << 20) return fixed(v / (1 << 20), 1) + " MiB";
  if (v >= 1 << 10) return fixed(v / (1 << 10), 1) + " KiB";
  return fixed(v, 0) + " B";
}

std::string opt(const std::optional<double>& v, std::string (*f)(double)) { return v ? f(*v) : "not run"; }

std::string table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "|";
  for (const auto& h : head) out += " " + h + " |";
  out += "\n|";
  for (std::size_t k = 0; k < head.size(); ++k) out += k == 0 ? "---|" : "--:|";
  out += "\n";
  for (const auto& r : rows) {
    out += "|";
    for (const auto& c : r) out += " " + c + " |";
    out += "\n";
  }
  return out;
}

// --- charts -------------------------------------------------------------------

struct line {
  std::string title;
  std::vector<std::pair<double, double>> points;
  bool baseline = false;  // drawn dashed
  bool flat = false;      // one value drawn across the x range
};

struct chart {
  std::string name;  // file stem
  std::string title, xlabel, ylabel;
  bool logx = true, logy = true;
  std::vector<line> lines;
  std::string extra;  // more gnuplot commands (a reference line)
};

/// Writes NAME.dat and NAME.gp into `dir` and runs gnuplot; false (with a
/// message) if gnuplot failed. Lines without points are left out.
bool draw(const chart& c, const std::string& dir) {
  std::ofstream dat(dir + "/" + c.name + ".dat");
  std::vector<const line*> drawn;
  for (const auto& l : c.lines) {
    if (l.points.empty()) continue;
    dat << "# " << l.title << "\n";
    for (auto [x, y] : l.points) dat << x << " " << y << "\n";
    dat << "\n\n";
    drawn.push_back(&l);
  }
  dat.close();
  if (drawn.empty()) return true;
  std::ofstream gp(dir + "/" + c.name + ".gp");
  gp << "set terminal pngcairo size 900,640 noenhanced font ',11'\n"
     << "set output '" << c.name << ".png'\n"
     << "set title '" << c.title << "'\nset xlabel '" << c.xlabel << "'\nset ylabel '" << c.ylabel << "'\n"
     << "set grid\nset key below left Left reverse maxrows 4\nset format y '%.0s%c'\n"
     << (c.logx ? "set logscale x\n" : "") << (c.logy ? "set logscale y\n" : "") << c.extra << "plot ";
  for (std::size_t k = 0; k < drawn.size(); ++k)
    gp << (k ? ", \\\n     " : "") << "'" << c.name << ".dat' index " << k
       << (drawn[k]->flat ? " with lines lw 2 " : " with linespoints lw 2 pt 7 ")
       << (drawn[k]->baseline ? "dt 2 " : "") << "title '" << drawn[k]->title << "'";
  gp << "\n";
  gp.close();
  const std::string cmd = "cd '" + dir + "' && gnuplot '" + c.name + ".gp'";
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "bench_report: gnuplot failed on " << dir << "/" << c.name << ".gp\n";
    return false;
  }
  return true;
}

line points_of(const std::string& title, const std::vector<const json*>& rows, const std::string& x,
               const std::string& y, bool baseline = false) {
  line l{title, {}, baseline};
  for (const json* r : rows) {
    auto xv = number_at(*r, x);
    auto yv = number_at(*r, y);
    if (xv && yv) l.points.emplace_back(*xv, *yv);
  }
  return l;
}

/// A baseline that does not depend on x, drawn across [x0, x1].
line flat(const std::string& title, std::optional<double> y, double x0, double x1) {
  line l{title, {}, true, true};
  if (y) l.points = {{x0, *y}, {x1, *y}};
  return l;
}

const json& growth_series(const json& results, const std::string& name) {
  static const json none = json::object();
  for (const auto& s : list(section(results, "growth"), "series"))
    if (s.value("name", "") == name) return s;
  return none;
}

std::vector<const json*> points(const json& series) {
  std::vector<const json*> out;
  for (const auto& p : list(series, "points")) out.push_back(&p);
  return out;
}

/// What a growth series compares itself with, as its first point names it.
std::string baseline_name(const json& series) {
  const auto ps = points(series);
  if (ps.empty() || !ps.front()->contains("baseline") || !(*ps.front())["baseline"].is_object()) return "baseline";
  return (*ps.front())["baseline"].value("name", "baseline");
}

// --- the report ---------------------------------------------------------------

struct target {
  std::string what, required, measured;
  std::optional<bool> met;  // nullopt: not measured in this run
  std::string source;
  std::string beside;  // the same-run baseline it is best read against
};

std::vector<target> targets(const json& r) {
  std::vector<target> out;
  const json& red = section(r, "reducer");
  const json& act = section(r, "actors");
  const json& jou = section(r, "journal");
  const json& wor = section(r, "workers");
  auto add = [&](std::string what, std::string required, std::optional<double> v, double bound, bool at_least,
                 std::string (*f)(double), std::string source, std::string note = "", std::string beside = "") {
    target t{std::move(what), std::move(required), v ? f(*v) + note : "not run", std::nullopt, std::move(source),
             std::move(beside)};
    if (v) t.met = at_least ? *v >= bound : *v <= bound;
    out.push_back(std::move(t));
  };
  auto first = [](const std::vector<const json*>& rows, const std::string& path) -> std::optional<double> {
    for (const json* row : rows)
      if (auto v = number_at(*row, path)) return v;
    return std::nullopt;
  };
  add("reducer, 6 stages (transitions/s per core)", "≥ 20 M",
      first(rows_where(list(red, "results"), {{"mode", "in_place"}, {"shape", "chain"}, {"stages", 6}}),
            "cpu_transitions_per_s_median"),
      20e6, true, si, "reducer_bench", "",
      "mutex-guarded map " +
          opt(first(rows_where(list(red, "baseline"), {{"shape", "chain"}, {"stages", 6}}),
                    "cpu_transitions_per_s_median"),
              si));
  std::optional<double> best, floor;
  std::string at;
  for (const json* row : rows_where(list(act, "results"), {{"journal", "none"}}))
    if (auto v = number_at(*row, "transitions_per_s_median"); v && (!best || *v > *best)) {
      best = v;
      floor = number_at(*row, "caf_ping_pong/transitions_per_s_median");
      at = " (" + si(row->value("pipelines", 0.0)) + " pipelines)";
    }
  // growth_bench measures the same thing, each point in a fresh process:
  // shown beside, not judged (actor_bench is the target's benchmark).
  std::optional<double> fresh;
  std::string fresh_at;
  for (const json* p : points(growth_series(r, "pipelines")))
    if (auto v = number_at(*p, "ours/transitions_per_s"); v && (!fresh || *v > *fresh))
      fresh = v, fresh_at = si(number_at(*p, "x").value_or(0));
  if (fresh) at += "; growth_bench, a fresh process: " + si(*fresh) + " (" + fresh_at + " pipelines)";
  add("in memory through actors (transitions/s)", "≥ 1 M", best, 1e6, true, si, "actor_bench", at,
      "CAF ping-pong " + opt(floor, si));
  const json& jr = list(jou, "results");
  const auto thousand = rows_where(jr, {{"pipelines", 1000}});
  // How busy the one writer was: near 1, it is the ceiling (older results lack it).
  const auto busy = first(thousand, "committer_busy_median");
  add("durable, 1,000 pipelines (transitions/s)", "≥ 300 k", first(thousand, "transitions_per_s_median"), 300e3,
      true, si, "journal_bench", "",
      "raw SQLite batched, interleaved keys " +
          opt(number_at(jou, "baselines/sqlite_batched_interleaved/rows_per_s_median"), si) + " rows/s; plain rows " +
          opt(number_at(jou, "baselines/sqlite_batched_plain/rows_per_s_median"), si) + " rows/s" +
          (busy ? "; the committer busy " + fixed(*busy, 2) + " of the run" : std::string()));
  add("durable, 1,000 pipelines vs SQLite's plain rows", "≥ 0.35", first(thousand, "ratio_to_batched_plain"), 0.35,
      true, [](double v) { return fixed(v, 2); }, "journal_bench", "",
      "plain rows, 1,000 a transaction, no index: " +
          opt(number_at(jou, "baselines/sqlite_batched_plain/rows_per_s_median"), si) + " rows/s");
  const auto one = rows_where(jr, {{"pipelines", 1}});
  add("durable, 1 pipeline vs SQLite one commit per event", "≥ 1.5",
      first(one, "paired_commit_per_event/ratio_median"), 1.5, true, [](double v) { return fixed(v, 2); },
      "journal_bench", "",
      "one commit per event " + opt(first(one, "paired_commit_per_event/rows_per_s_median"), si) + " rows/s, ours " +
          opt(first(one, "transitions_per_s_median"), si) + " transitions/s; fdatasync p50 " +
          opt(number_at(jou, "machine/fdatasync_4k_ms/start/p50"), [](double v) { return fixed(v, 3); }) + " ms");
  add("durable, 1 pipeline vs one commit per event, slow disk (sync + " +
          opt(first(one, "slow_sync/sync_delay_ms"), [](double v) { return fixed(v, 1); }) + " ms)",
      "≥ 1.5", first(one, "slow_sync/paired_commit_per_event/ratio_median"), 1.5, true,
      [](double v) { return fixed(v, 2); }, "journal_bench", "",
      "one commit per event " + opt(first(one, "slow_sync/paired_commit_per_event/rows_per_s_median"), si) +
          " rows/s, ours " + opt(first(one, "slow_sync/transitions_per_s_median"), si) + " transitions/s");
  add("2 worker processes (transitions/s)", "≥ 50 k",
      first(rows_where(list(wor, "results"), {{"worker_processes", 2}}), "transitions_per_s_median"), 50e3,
      true, si, "worker_bench", "",
      "CAF loopback (plain TCP) " + opt(number_at(wor, "baselines/caf_loopback/transitions_per_s_median"), si) +
          ", in process " +
          opt(number_at(wor, "baselines/in_process/transitions_per_s_median"), si));
  add("memory per idle pipeline", "≤ 4 KiB", number_at(act, "idle_memory/bytes_per_idle_pipeline"), 4096, false,
      bytes, "actor_bench");
  // Recovery: the target is for 1M events; a smaller journal is shown, not judged.
  std::optional<double> rec_s, rec_events, rec_raw;
  for (const json* p : points(growth_series(r, "recovery")))
    if (number_at(*p, "x").value_or(0) >= 1e6)
      rec_s = number_at(*p, "ours/seconds"), rec_events = number_at(*p, "x"), rec_raw = number_at(*p, "baseline/seconds");
  if (!rec_s) rec_s = number_at(jou, "recovery/warm/seconds_median"), rec_events = number_at(jou, "recovery/events");
  target rec{"recovery of 1M events", "≤ 5 s", "not run", std::nullopt,
             rec_events.value_or(0) >= 1e6 ? "growth_bench" : "journal_bench",
             rec_raw ? "raw SQLite SELECT of the rows " + fixed(*rec_raw, 2) + " s" : ""};
  if (rec_s && rec_events) {
    rec.measured = fixed(*rec_s, 2) + " s for " + si(*rec_events) + " events";
    if (*rec_events >= 1e6) rec.met = *rec_s * 1e6 / *rec_events <= 5.0;
  }
  out.push_back(rec);

  const json& clu = section(r, "cluster");
  const json& thr = section(clu, "throughput");
  const auto setup = [&](const char* name) { return first(rows_where(list(thr, "results"), {{"setup", name}}), "transitions_per_s_median"); };
  add("PostgreSQL journal, 1 server, 1,000 pipelines vs raw batched INSERT", "≥ 0.50",
      first(rows_where(list(thr, "results"), {{"setup", "postgresql_one_server"}}), "ratio_to_raw_insert"), 0.50, true,
      [](double v) { return fixed(v, 2); }, "cluster_bench", "",
      "raw INSERT " + opt(number_at(thr, "baseline/rows_per_s_median"), si) + " rows/s, ours " +
          opt(setup("postgresql_one_server"), si) + "; 2 servers " + opt(setup("postgresql_two_servers"), si) +
          "; SQLite journal " + opt(setup("sqlite"), si));
  const json& fo = section(clu, "failover");
  const double lease = number_at(fo, "lease_ms").value_or(5000);
  const std::string bound = "≤ " + fixed((lease + 1000) / 1000, 1) + " s (lease + 1 s)";
  const auto secs = [](double ms) { return fixed(ms / 1000, 2) + " s"; };
  add("failover, SIGKILL to the new owner's first event (p50)", bound, number_at(fo, "p50_ms"), lease + 1000, false,
      secs, "cluster_bench", "",
      "lease " + secs(lease) + ", " + opt(number_at(fo, "kills"), si) + " kills");
  add("failover (max)", bound, number_at(fo, "max_ms"), lease + 1000, false, secs, "cluster_bench");
  return out;
}

std::string report(const json& r, const std::string& images, std::vector<chart>& charts) {
  const json& m = section(r, "machine");
  std::ostringstream md;
  md << "Machine: " << m.value("cpu", "?") << ", " << m.value("cores", 0) << " cores, kernel "
     << m.value("kernel", "?") << "; load average " << m.value("load_average", "?") << " at the end; commit " << m.value("commit", "?") << ", " << m.value("date", "?")
     << (m.value("quick", false) ? "; **quick run** (CI smoke sizes: large points not run)" : "")
     << ".\nReproduce: `" << m.value("command", "bash tools/bench.sh") << "` (results: `" << m.value("results", "")
     << "`).\n";
  // The disk's own speed, so that a reader can compare machines: the durable
  // figures follow it.
  if (auto p50 = number_at(section(r, "journal"), "machine/fdatasync_4k_ms/start/p50"))
    md << "Disk: fdatasync of 4 KiB, p50 " << fixed(*p50, 3) << " ms at the start of journal_bench (about "
       << si(1e3 / *p50) << " syncs/s), p50 "
       << opt(number_at(section(r, "journal"), "machine/fdatasync_4k_ms/end/p50"), [](double v) { return fixed(v, 3); })
       << " ms at its end; SQLite's one commit per event on it: "
       << opt(number_at(section(r, "journal"), "baselines/sqlite_commit_per_event/rows_per_s_median"), si)
       << " commits/s.\n";
  md << "\n";

  std::vector<std::vector<std::string>> rows;
  for (const auto& t : targets(r))
    rows.push_back({t.what, t.required, t.measured, !t.met ? "—" : *t.met ? "yes" : "**no**",
                    t.beside.empty() ? "—" : t.beside, t.source});
  md << "### Targets\n\n"
     << table({"target", "required", "measured (median)", "met", "beside it, same run", "benchmark"}, rows) << "\n";

  // Throughput against concurrent pipelines: in memory and durable, with their floors.
  const json& act = section(r, "actors");
  const json& jou = section(r, "journal");
  const json& gp = growth_series(r, "pipelines");
  const json& ar = list(act, "results");
  chart pipes{"throughput_vs_pipelines", "Transitions/s against concurrent pipelines", "concurrent pipelines",
              "transitions/s", true, true, {}, ""};
  if (!points(gp).empty()) {
    pipes.lines.push_back(points_of("supervisors in memory (growth_bench)", points(gp), "x", "ours/transitions_per_s"));
    pipes.lines.push_back(points_of(baseline_name(gp), points(gp), "x",
                                    "baseline/transitions_per_s", true));
  } else {
    pipes.lines.push_back(points_of("supervisors in memory", rows_where(ar, {{"journal", "none"}}), "pipelines",
                                    "transitions_per_s_median"));
    pipes.lines.push_back(points_of("CAF raw messaging (ping-pong pairs)", rows_where(ar, {{"journal", "none"}}),
                                    "pipelines", "caf_ping_pong/transitions_per_s_median", true));
  }
  pipes.lines.push_back(points_of("supervisors + memory journal", rows_where(ar, {{"journal", "memory"}}),
                                  "pipelines", "transitions_per_s_median"));
  const auto jr = rows_where(list(jou, "results"), {});
  pipes.lines.push_back(points_of("durable (SQLite journal)", jr, "pipelines", "transitions_per_s_median"));
  pipes.lines.push_back(flat("raw SQLite, batched inserts (interleaved keys)",
                             number_at(jou, "baselines/sqlite_batched_interleaved/rows_per_s_median"), 1, 1e5));
  pipes.lines.push_back(flat("raw SQLite, one commit per event",
                             number_at(jou, "baselines/sqlite_commit_per_event/rows_per_s_median"), 1, 1e5));
  charts.push_back(pipes);

  // Against stages per pipeline: the reducer (two modes), actors, mutex-guarded baseline.
  const json& red = list(section(r, "reducer"), "results");
  const json& gs = growth_series(r, "stages");
  chart stages{"throughput_vs_stages", "Transitions/s against stages per pipeline", "stages per pipeline",
               "transitions/s (per core)", true, true, {}, ""};
  const auto chain = [&](const char* mode) {
    return rows_where(red, {{"mode", mode}, {"shape", "chain"}});
  };
  stages.lines.push_back(points_of("reducer, in place", chain("in_place"), "stages", "cpu_transitions_per_s_median"));
  stages.lines.push_back(points_of("reducer, copy (every state kept)", chain("copy"), "stages",
                                   "cpu_transitions_per_s_median"));
  stages.lines.push_back(points_of("mutex-guarded mutable map",
                                   rows_where(list(section(r, "reducer"), "baseline"), {{"shape", "chain"}}),
                                   "stages", "cpu_transitions_per_s_median", true));
  stages.lines.push_back(points_of("supervisors in memory (growth_bench)", points(gs), "x", "ours/transitions_per_s"));
  stages.lines.push_back(points_of(baseline_name(gs) + " (growth_bench)", points(gs), "x",
                                   "baseline/transitions_per_s", true));
  charts.push_back(stages);

  // Against worker processes.
  const json& wor = section(r, "workers");
  const auto wr = rows_where(list(wor, "results"), {});
  chart workers{"throughput_vs_workers", "Transitions/s against worker processes (100 pipelines)",
                "worker processes", "transitions/s", false, false, {}, "set xtics 1\nset yrange [0:*]\n"};
  // Results from before the worker port spoke TLS carry no transport: plain TCP.
  const json* port = wor.contains("config") ? &wor["config"] : nullptr;
  const std::string transport =
      port && port->contains("worker_port") && (*port)["worker_port"].is_string() ? (*port)["worker_port"].get<std::string>()
                                                                                  : "plain TCP";
  workers.lines.push_back(points_of("runs on worker processes (" + transport + ")", wr, "worker_processes",
                                    "transitions_per_s_median"));
  const double wmax = wr.empty() ? 4 : std::max(2.0, number_at(*wr.back(), "worker_processes").value_or(4));
  workers.lines.push_back(flat("in process (same workload)",
                               number_at(wor, "baselines/in_process/transitions_per_s_median"), 1, wmax));
  workers.lines.push_back(flat("CAF raw messaging over loopback (plain TCP)",
                               number_at(wor, "baselines/caf_loopback/transitions_per_s_median"), 1, wmax));
  charts.push_back(workers);

  // Cost growth: per-transition cost relative to the smallest point, against
  // the parameter relative to the smallest; the diagonal is linear growth.
  chart growth{"cost_growth", "Per-transition cost growth (relative to the smallest point)",
               "parameter / smallest value", "cost / cost at smallest value", true, true, {},
               "set yrange [0.1:*]\n"};
  std::vector<std::vector<std::string>> grows;
  for (const auto& s : list(section(r, "growth"), "series")) {
    const auto ps = points(s);
    const bool recovery = s.value("name", "") == "recovery";
    const std::string cost = recovery ? "ours/seconds" : "ours/cpu_ns_per_transition";
    line l{s.value("name", "?") + (recovery ? " (total time)" : " (CPU per transition)"), {}, false};
    std::optional<double> x0, y0;
    for (const json* p : ps) {
      auto x = number_at(*p, "x");
      auto y = number_at(*p, cost);
      if (!y && !recovery) y = number_at(*p, "ours/ns_per_transition");
      if (!x || !y || *y <= 0) continue;
      if (!x0) x0 = x, y0 = y;
      l.points.emplace_back(*x / *x0, *y / *y0);
    }
    growth.lines.push_back(l);
    const std::string first = ps.empty() ? "" : si(number_at(*ps.front(), "x").value_or(0));
    const std::string last = ps.empty() ? "" : si(number_at(*ps.back(), "x").value_or(0));
    auto ex = [&](const char* k) { return s.contains(k) && s[k].is_number() ? fixed(s[k].get<double>(), 2) : "—"; };
    grows.push_back({s.value("name", "?") + ": " + s.value("x", "?"), first + " → " + last, ex("exponent_time"),
                     ex("exponent_memory"), s.value("worse_than_linear", false) ? "**yes**" : "no",
                     s.value("explanation", "")});
  }
  // The diagonal: cost growing exactly as fast as the parameter.
  growth.extra += "set arrow from 1,1 to 1e5,1e5 nohead dt 3 lc rgb 'gray'\n"
                  "set label 'linear' at 30,20 tc rgb 'gray'\nset format y '%g'\n";
  if (!grows.empty()) charts.push_back(growth);

  chart rec{"recovery", "Recovery time against journal length", "events in the journal", "seconds", true, true, {},
            ""};
  const json& gr = growth_series(r, "recovery");
  rec.lines.push_back(points_of("recover (open, read, decode, replay)", points(gr), "x", "ours/seconds"));
  rec.lines.push_back(points_of("raw SQLite SELECT of the same rows", points(gr), "x", "baseline/seconds", true));
  if (!points(gr).empty()) charts.push_back(rec);

  md << "### Charts\n\n";
  for (const auto& c : charts)
    if (std::any_of(c.lines.begin(), c.lines.end(), [](const line& l) { return !l.points.empty(); }))
      md << "![" << c.title << "](" << images << c.name << ".png)\n\n";

  if (!grows.empty())
    md << "### Cost growth\n\nExponent: the slope of log(cost per transition) against log(parameter) "
          "(recovery: of total time against events); above 1 is worse than linear.\n\n"
       << table({"series: parameter", "range", "time exponent", "memory exponent", "worse than linear", "why"}, grows)
       << "\n";

  // The figures behind the charts.
  rows.clear();
  for (const auto& l : pipes.lines)
    for (auto [x, y] : l.points)
      if (!l.flat || x == l.points.front().first) rows.push_back({l.title, l.flat ? "—" : si(x), si(y)});
  md << "### Transitions/s against concurrent pipelines\n\n" << table({"series", "pipelines", "transitions/s"}, rows);
  std::vector<std::vector<std::string>> rss;
  for (const json* p : points(gp))
    if (auto peak = number_at(*p, "ours/peak_rss_bytes"))
      rss.push_back({si(number_at(*p, "x").value_or(0)), bytes(*peak),
                     opt(number_at(*p, "ours/rss_bytes_per_pipeline"), bytes)});
  if (!rss.empty()) md << "\n### Memory\n\n" << table({"pipelines", "peak RSS", "RSS per pipeline"}, rss);
  rows.clear();
  for (const auto& l : workers.lines)
    for (auto [x, y] : l.points)
      if (!l.flat || x == l.points.front().first) rows.push_back({l.title, l.flat ? "—" : si(x), si(y)});
  md << "\n### Transitions/s against worker processes\n\n" << table({"series", "workers", "transitions/s"}, rows);

  // Where a lone pipeline's stage goes (journal_bench's traced run).
  rows.clear();
  const json* timeline = nullptr;
  for (const json* row : rows_where(list(jou, "results"), {{"pipelines", 1}}))
    if (row->contains("timeline")) timeline = &(*row)["timeline"];
  if (timeline) {
    for (const auto& s : (*timeline)["steps"])
      rows.push_back({"`" + s.value("step", "?") + "`", fixed(s.value("median_us", 0.0), 1)});
    md << "\n### The timeline of one stage\n\n"
       << "One pipeline on the SQLite journal, one run traced (journal/include/dairector/journal/trace.hpp): "
       << "the median of each step between two points over " << si(timeline->value("stages", 0.0))
       << " stages; a stage (a start to the next start) took " << fixed(timeline->value("stage_median_us", 0.0), 1)
       << " µs at the median. `sync_began -> commit_ended` is SQLite's COMMIT: the fsync.\n\n"
       << table({"step", "median µs"}, rows);
  }

  // 1,000 pipelines on a journal in use, in each SQLite format (journal_bench).
  const json& in_use = section(jou, "in_use");
  rows.clear();
  for (const auto& f : list(in_use, "formats"))
    rows.push_back({"format " + si(f.value("format", 0.0)), opt(number_at(f, "transitions_per_s_median"), si),
                    opt(number_at(f, "cpu_us_per_transition_median"), [](double v) { return fixed(v, 2); }),
                    opt(number_at(f, "bytes_written_per_transition_median"), si)});
  if (!rows.empty())
    md << "\n### 1,000 pipelines on a journal in use\n\n"
       << "The SQLite journal already holds " << si(in_use.value("events_before", 0.0)) << " events of "
       << si(in_use.value("pipelines_before", 0.0))
       << " earlier pipelines; then 1,000 pipelines run on it, in each format (docs/events.md#the-journal-file). "
       << "Format 2 / format 1: " << fixed(in_use.value("ratio_format_2_to_1", 0.0), 2) << ".\n\n"
       << table({"journal", "transitions/s", "CPU µs/transition", "bytes written/transition"}, rows);

  // One pipeline's history on a large journal, in each format (history_bench).
  const json& his = section(r, "history");
  rows.clear();
  const auto ms = [](const json& f, const char* k) {
    return opt(number_at(f, std::string(k) + "/median_ms"), [](double v) { return fixed(v, v < 10 ? 2 : 1); }) + " / " +
           opt(number_at(f, std::string(k) + "/p90_ms"), [](double v) { return fixed(v, v < 10 ? 2 : 1); });
  };
  for (const auto& f : list(his, "formats"))
    rows.push_back({"format " + si(f.value("format", 0.0)), ms(f, "in_process_open_and_history"),
                    ms(f, "program_history"), ms(f, "program_status_at"), ms(f, "http_history"), ms(f, "http_state_at"),
                    opt(number_at(f, "serve_ready_seconds"), [](double v) { return fixed(v, 1) + " s"; })});
  if (!rows.empty())
    md << "\n### One pipeline's history on a large journal\n\n"
       << "A journal of " << si(number_at(his, "config/events").value_or(0)) << " events ("
       << si(number_at(his, "config/pipelines").value_or(0)) << " pipelines of "
       << si(number_at(his, "config/events_per_pipeline").value_or(0)) << " events, written side by side); "
       << si(number_at(his, "config/samples").value_or(0))
       << " of its pipelines read, spread over it. Milliseconds, median / p90: in process (open the journal "
          "and read the history), the program (`history`, `status --at 50`: the whole process), and over HTTP "
          "from `serve` (GET /pipelines/ID/history, GET /pipelines/ID?at=50), with the time `serve` took to be "
          "ready on that journal.\n\n"
       << table({"journal", "in process", "`history`", "`status --at`", "HTTP history", "HTTP ?at", "serve ready"},
                rows);

  // Many servers on PostgreSQL: 1,000 pipelines on each setup, beside raw INSERTs.
  const json& thr = section(section(r, "cluster"), "throughput");
  rows.clear();
  for (const auto& row : list(thr, "results")) {
    auto db = number_at(row, "database_cpu_us_per_transition_median");
    rows.push_back({row.value("setup", "?"), opt(number_at(row, "transitions_per_s_median"), si),
                    opt(number_at(row, "ratio_to_raw_insert"), [](double v) { return fixed(v, 2); }),
                    opt(number_at(row, "events_per_commit_median"), si),
                    opt(number_at(row, "cpu_us_per_transition_median"), [](double v) { return fixed(v, 1); }) +
                        (db ? " + " + fixed(*db, 1) : "")});
  }
  if (!rows.empty()) {
    auto db = number_at(thr, "baseline/database_cpu_us_per_row_median");
    rows.push_back({"raw batched INSERT through libpq (rows/s)", opt(number_at(thr, "baseline/rows_per_s_median"), si),
                    "1.00", opt(number_at(thr, "baseline/rows_per_transaction"), si),
                    opt(number_at(thr, "baseline/cpu_us_per_row_median"), [](double v) { return fixed(v, 1); }) +
                        (db ? " + " + fixed(*db, 1) : "")});
    if (thr.contains("journal_statements")) {
      const json& js = thr["journal_statements"];
      auto jdb = number_at(js, "database_cpu_us_per_row_median");
      rows.push_back({"the journal's statements alone through libpq (rows/s)", opt(number_at(js, "rows_per_s_median"), si),
                      opt(number_at(js, "ratio_to_raw_insert"), [](double v) { return fixed(v, 2); }),
                      opt(number_at(thr, "baseline/rows_per_transaction"), si),
                      opt(number_at(js, "cpu_us_per_row_median"), [](double v) { return fixed(v, 1); }) +
                          (jdb ? " + " + fixed(*jdb, 1) : "")});
    }
    md << "\n### Many servers on PostgreSQL (1,000 pipelines)\n\n"
       << table({"setup", "transitions/s", "vs raw INSERT", "events/commit", "CPU µs/transition (process + database)"},
                rows)
       << "\nTwo servers: two journals on one database in one process (the journal path, not two machines).\n";
  }
  return md.str();
}

/// Replaces what lies between the markers in `path` with `body`.
bool splice(const std::string& path, const std::string& body) {
  const std::string begin = "<!-- performance:begin (generated by tools/bench.sh; do not edit) -->";
  const std::string end = "<!-- performance:end -->";
  std::ifstream in(path);
  std::stringstream all;
  all << in.rdbuf();
  std::string text = all.str();
  const auto b = text.find(begin);
  const auto e = text.find(end);
  if (b == std::string::npos || e == std::string::npos || e < b) {
    std::cerr << "bench_report: " << path << " has no performance markers (" << begin << " ... " << end << ")\n";
    return false;
  }
  text.replace(b + begin.size(), e - b - begin.size(), "\n" + body);
  std::ofstream(path) << text;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: bench_report RESULTS.json OUT_DIR [--readme README.md --images PREFIX]\n";
    return 2;
  }
  std::string readme, images;
  for (int k = 3; k + 1 < argc; k += 2) {
    const std::string a = argv[k];
    if (a == "--readme") readme = argv[k + 1];
    else if (a == "--images") images = argv[k + 1];
    else {
      std::cerr << "bench_report: unknown option " << a << "\n";
      return 2;
    }
  }
  std::ifstream in(argv[1]);
  json results = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!in || results.is_discarded() || !results.is_object()) {
    std::cerr << "bench_report: " << argv[1] << " is not a results file (a JSON object)\n";
    return 2;
  }
  for (const char* name : {"machine", "reducer", "actors", "journal", "workers", "growth"})
    if (!results.contains(name) || !results[name].is_object()) {
      std::cerr << "bench_report: " << argv[1] << " has no \"" << name << "\" object (did that benchmark run?)\n";
      return 2;
    }
  const std::string dir = argv[2];
  std::vector<chart> charts;
  const std::string md = report(results, images, charts);
  bool ok = true;
  for (const auto& c : charts) ok = draw(c, dir) && ok;
  std::ofstream(dir + "/report.md") << "## Performance report\n\n" << md;
  if (!readme.empty()) ok = splice(readme, md) && ok;
  std::cerr << "bench_report: " << dir << "/report.md" << (readme.empty() ? "" : " and " + readme) << "\n";
  return ok ? 0 : 1;
}
