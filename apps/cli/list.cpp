// `dairector list` (docs/cli.md#list): every pipeline of a journal, or of a
// server (GET /pipelines), newest first, one line each or JSON Lines.
//
// On a journal the seq and the times come from the store's own count
// (journal_store::pipelines, no fold), but the outcome needs the state: each
// history is read and replayed, so the cost grows with the journal's events
// (`archive` keeps that bounded). A server answers from what its director
// already holds (docs/http.md), without reading histories.
#include "cli/listing.hpp"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/journal_args.hpp"
#include "cli/server_client.hpp"
#include "dairector/codec.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

constexpr pipeline_outcome all_outcomes[] = {pipeline_outcome::active, pipeline_outcome::waiting,
                                             pipeline_outcome::done, pipeline_outcome::failed,
                                             pipeline_outcome::cancelled};

struct list_options {
  journal_args journal;
  bool as_json = false;
  std::string outcome;  // empty: every one
};

json time_json(std::int64_t ms) { return ms == 0 ? json(nullptr) : json(format_time(ms)); }

result<std::vector<listed_pipeline>> from_journal(const journal_args& args) {
  auto store = open_journal(args.journal_path(), args.options(/*read_only=*/true));
  if (!store) {
    if (store.err().code == errc::not_found) return std::vector<listed_pipeline>();  // nothing written yet
    return store.err();
  }
  auto all = (*store)->pipelines();
  if (!all) return all.err();
  std::vector<listed_pipeline> out;
  out.reserve(all->size());
  for (const pipeline_summary& p : *all) {
    listed_pipeline l{p.id, {}, std::nullopt, p.seq, p.created_ms, p.last_ms, 0, {}};
    journal_damage d;
    auto state = (*store)->replayed(p.id, &d);
    if (state) {
      l.name = state->spec().name();
      l.outcome = outcome(*state);
    } else if (state.err().code == errc::journal) {
      l.damaged_seq = d.seq;
      l.damage = state.err().message;
    } else {
      return state.err();
    }
    out.push_back(std::move(l));
  }
  return out;
}

// The server's answer, as the same records (it lists newest first already).
result<std::vector<listed_pipeline>> from_server(const journal_args& args, const std::string& url,
                                                 const std::string& outcome) {
  auto server = server_client::open(url, args.token_file);
  if (!server) return server.err();
  auto answer = server->get(outcome.empty() ? "/pipelines" : "/pipelines?outcome=" + outcome);
  if (!answer) return answer.err();
  if (!answer->is_array()) return make_error(errc::journal, "the server's list of pipelines is not an array");
  std::vector<listed_pipeline> out;
  for (const json& j : *answer) {
    listed_pipeline l;
    l.id = j.value("pipeline", "");
    l.name = j.value("name", "");
    if (auto o = j.find("outcome"); o != j.end() && o->is_string())
      if (auto named = outcome_named(o->get<std::string>(), "the server's outcome")) l.outcome = *named;
    l.seq = j.value("seq", std::uint64_t{0});
    for (auto [key, ms] : {std::pair{"created", &l.created_ms}, std::pair{"last_change", &l.last_ms}})
      if (auto t = j.find(key); t != j.end() && t->is_string())
        if (auto parsed = parse_time(t->get<std::string>())) *ms = *parsed;
    if (auto d = j.find("damage"); d != j.end() && d->is_object()) {
      l.damaged_seq = d->value("seq", std::uint64_t{0});
      l.damage = d->value("reason", "damaged");
    }
    out.push_back(std::move(l));
  }
  return out;
}

int list(const list_options& opt) {
  std::optional<pipeline_outcome> wanted;
  if (!opt.outcome.empty()) {
    auto named = outcome_named(opt.outcome, "--outcome");
    if (!named) return report("list", named.err());
    wanted = *named;
  }
  const std::string url = opt.journal.server_url();
  auto all = url.empty() ? from_journal(opt.journal) : from_server(opt.journal, url, opt.outcome);
  if (!all) return report("list", all.err());
  if (wanted) std::erase_if(*all, [&](const listed_pipeline& p) { return p.outcome != wanted; });
  sort_newest_first(*all);
  for (const listed_pipeline& p : *all) {
    if (opt.as_json) {
      std::cout << listing_json(p).dump() << "\n";
      continue;
    }
    std::ostringstream line;
    line << std::left << std::setw(24) << p.id << " " << std::setw(16) << p.name << " " << std::setw(9)
         << (p.outcome ? to_string(*p.outcome) : "damaged") << " seq " << std::setw(6) << p.seq << " created "
         << (p.created_ms ? format_time(p.created_ms) : "-") << "  last change "
         << (p.last_ms ? format_time(p.last_ms) : "-");
    std::cout << escape_for_terminal(line.str()) << "\n";
  }
  return exit_done;
}

}  // namespace

json listing_json(const listed_pipeline& p) {
  json out{{"pipeline", p.id},
           {"name", p.name},
           {"outcome", p.outcome ? json(to_string(*p.outcome)) : json(nullptr)},
           {"seq", p.seq},
           {"created", time_json(p.created_ms)},
           {"last_change", time_json(p.last_ms)}};
  if (!p.damage.empty()) out["damage"] = json{{"seq", p.damaged_seq}, {"reason", p.damage}};
  return out;
}

void sort_newest_first(std::vector<listed_pipeline>& all) {
  std::sort(all.begin(), all.end(), [](const listed_pipeline& a, const listed_pipeline& b) {
    return a.created_ms != b.created_ms ? a.created_ms > b.created_ms : a.id < b.id;
  });
}

result<pipeline_outcome> outcome_named(std::string_view name, std::string_view what) {
  for (pipeline_outcome o : all_outcomes)
    if (name == to_string(o)) return o;
  return make_error(errc::decode_failed, std::string(what) + " must be one of active, waiting, done, failed, " +
                                             "cancelled (not '" + escape_for_terminal(std::string(name)) + "')");
}

void add_list(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("list", "Every pipeline, newest first: id, name, outcome, seq, created, last change");
  auto opt = std::make_shared<list_options>();
  add_journal_options(cmd, opt->journal, /*writes=*/false);
  add_server_options(cmd, opt->journal);
  cmd->add_flag("--json", opt->as_json, "JSON Lines: one object per pipeline (docs/cli.md#list)");
  cmd->add_option("--outcome", opt->outcome, "Only those with this outcome: active, waiting, done, failed, cancelled");
  cmd->callback([&exit_status, opt] { exit_status = list(*opt); });
}

}  // namespace dairector::cli
