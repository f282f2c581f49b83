#include "cli/commands.hpp"

#include <atomic>
#include <csignal>
#include <iostream>

namespace dairector::cli {

namespace {
std::atomic<bool> stop_flag{false};
extern "C" void on_stop_signal(int) { stop_flag = true; }
}  // namespace

void catch_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

bool stop_requested() { return stop_flag; }

}  // namespace dairector::cli

int main(int argc, char** argv) {
  CLI::App app{"dairector: staged pipelines that never lie about their state"};
  app.require_subcommand(1);
  int exit_status = dairector::cli::exit_done;
  dairector::cli::add_check(app, exit_status);
  dairector::cli::add_run(app, exit_status);
  dairector::cli::add_inspect(app, exit_status);
  dairector::cli::add_list(app, exit_status);
  dairector::cli::add_archive(app, exit_status);
  dairector::cli::add_control(app, exit_status);
  dairector::cli::add_serve(app, exit_status);
  dairector::cli::add_worker(app, exit_status);
  dairector::cli::add_logs(app, exit_status);
  dairector::cli::add_journal(app, exit_status);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and usage
    return e.get_exit_code() == 0 ? 0 : dairector::cli::exit_usage;
  }
  return exit_status;
}
