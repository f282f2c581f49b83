// `dairector check SPEC`: validate a spec and print its stages in
// topological order with their direct upstream and downstream.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "dairector/spec.hpp"
#include "dairector/text_check.hpp"

namespace dairector::cli {

namespace {

std::string names(const pipeline_spec& spec, const std::vector<stage_index>& list) {
  if (list.empty()) return "-";
  std::string out;
  for (stage_index i : list) out += (out.empty() ? "" : ",") + spec[i].name;
  return out;
}

std::string describe_run(const run_spec& r) {
  switch (r.what) {
    case run_spec::kind::echo: return "builtin echo";
    case run_spec::kind::sleep: return "builtin sleep " + std::to_string(r.ms) + "ms";
    case run_spec::kind::fail: return "builtin fail x" + std::to_string(r.times);
    case run_spec::kind::handler: return "handler " + r.handler;
    case run_spec::kind::command: {
      std::string out = "command";
      for (const auto& a : r.argv) out += " " + a;
      return out + " (timeout " + std::to_string(r.timeout_s) + "s)";
    }
  }
  return "?";
}

int run_check(const std::string& path, bool as_json) {
  auto spec = load_spec(path);
  if (!spec) {
    std::cerr << "dairector check: " << escape_for_terminal(spec.err().message) << "\n";
    return exit_usage;
  }
  const pipeline_spec& sp = **spec;
  if (as_json) {
    json out = sp.to_json();
    for (std::size_t i = 0; i < sp.size(); ++i) {
      json down = json::array();
      for (stage_index d : sp[static_cast<stage_index>(i)].before) down.push_back(sp[d].name);
      out["stages"][i]["before"] = std::move(down);
    }
    std::cout << out.dump(2) << "\n";
    return exit_done;
  }
  std::size_t w = 5;
  for (const auto& s : sp.stages()) w = std::max(w, s.name.size());
  std::cout << "pipeline '" << sp.name() << "': " << sp.size() << " stages, valid\n";
  std::cout << "  " << std::left << std::setw(4) << "#" << std::setw(static_cast<int>(w) + 2) << "stage"
            << std::setw(22) << "upstream" << std::setw(22) << "downstream" << "run / policy\n";
  for (stage_index i = 0; i < sp.size(); ++i) {
    const stage_spec& s = sp[i];
    std::ostringstream policy;
    policy << describe_run(s.run);
    if (s.confirm) policy << "; confirm: \"" << *s.confirm << "\"";
    if (s.on_failure)
      policy << "; on failure: re-run " << sp[s.on_failure->rerun].name << " (max " << s.on_failure->max_attempts
             << ")";
    // A command's arguments may hold any text (a script with newlines): escaped.
    std::cout << "  " << std::left << std::setw(4) << (i + 1) << std::setw(static_cast<int>(w) + 2) << s.name
              << std::setw(22) << names(sp, s.after) << std::setw(22) << names(sp, s.before)
              << escape_for_terminal(policy.str()) << "\n";
  }
  return exit_done;
}

}  // namespace

void add_check(CLI::App& app, int& exit_status) {
  auto* cmd = app.add_subcommand("check", "Validate a pipeline spec and print its stages in topological order");
  auto path = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("spec", *path, "The pipeline spec (JSON)")->required();
  cmd->add_flag("--json", *as_json, "Print the canonical spec with each stage's downstream as JSON");
  cmd->callback([&exit_status, path, as_json] { exit_status = run_check(*path, *as_json); });
}

}  // namespace dairector::cli
