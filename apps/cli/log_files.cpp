#include "cli/log_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "dairector/journal/open.hpp"

namespace dairector::cli {

void add_log_options(CLI::App* cmd, log_args& args, bool writes) {
  cmd->add_option("--log-dir", args.dir,
                  "The folder of the stages' logs (default: JOURNAL.logs beside a journal file, ./dairector.logs "
                  "with a PostgreSQL journal)");
  if (writes)
    cmd->add_option("--log-runs", args.runs, "Keep the logs of this many runs per stage (the oldest go first)")
        ->check(CLI::Range(std::size_t{1}, actors::stage_log_runs_max))
        ->capture_default_str();
}

std::string log_root(const log_args& args, const std::string& journal_path) {
  namespace fs = std::filesystem;
  if (!args.dir.empty()) return fs::absolute(args.dir).lexically_normal().string();
  if (is_postgresql_uri(journal_path)) return fs::absolute("dairector.logs").string();
  return fs::absolute(journal_path + ".logs").lexically_normal().string();
}

result<caf::actor> start_log_writer(caf::actor_system& sys, const log_args& args, const std::string& journal_path,
                                    std::function<void(const std::string&)> log) {
  auto writer = actors::spawn_stage_log_writer(sys, {log_root(args, journal_path), args.runs, std::move(log)});
  if (!writer) return make_error(errc::refused, sys.render(writer.error()));
  return *writer;
}

bool log_follower::open(const std::string& folder, std::uint64_t run) {
  auto file = actors::find_stage_log(folder, run);
  if (!file) return false;
  fd_ = ::open(file->path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd_ < 0) return false;
  if (file->live) live_path_ = file->path;
  return true;
}

log_follower::~log_follower() {
  if (fd_ >= 0) ::close(fd_);
}

log_follower::step log_follower::read(std::string& out, std::size_t bytes_max) {
  if (fd_ < 0) return step::ended;
  // The file is renamed, not copied, when the run ends: the descriptor sees
  // every byte either way. So: end of file and no .live any more means the
  // writer is done with it, once one more read finds nothing.
  for (int round = 0; round < 2; ++round) {
    std::string buf(bytes_max, '\0');
    ssize_t r;
    do r = ::pread(fd_, buf.data(), bytes_max, static_cast<off_t>(offset_)); while (r < 0 && errno == EINTR);
    if (r > 0) {
      offset_ += static_cast<std::uint64_t>(r);
      out.append(buf.data(), static_cast<std::size_t>(r));
      return step::more;
    }
    if (r < 0) return step::ended;
    struct stat sb{};
    if (live_path_.empty()) return step::ended;
    if (::stat(live_path_.c_str(), &sb) == 0) return step::waiting;
    live_path_.clear();  // read once more: what came before the rename
  }
  return step::ended;
}

}  // namespace dairector::cli
