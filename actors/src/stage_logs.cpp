#include "dairector/actors/stage_logs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>

namespace dairector::actors {

namespace {

constexpr std::size_t segment_bytes_max = 240;  // a file name has 255 at most: room for ".live"

std::string marker(std::uint64_t dropped, std::size_t tail) {
  return "\n[dairector: " + std::to_string(dropped) + " bytes of standard error past the first " +
         std::to_string(stage_log_head_bytes_max) + " were dropped; the last " + std::to_string(tail) +
         " of them follow]\n";
}

bool make_folder(const std::string& path) { return ::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST; }

// Whole writes, whatever a signal interrupts.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t w = ::write(fd, bytes.data(), bytes.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

// The names in `folder` (not . and ..); empty if it cannot be read.
std::vector<std::string> names_in(const std::string& folder) {
  std::vector<std::string> out;
  DIR* d = ::opendir(folder.c_str());
  if (!d) return out;
  while (const dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  ::closedir(d);
  return out;
}

// "123.log" or "123.live" -> 123; nullopt for anything else.
std::optional<std::uint64_t> run_of(const std::string& name) {
  const auto dot = name.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 20) return std::nullopt;
  const std::string ext = name.substr(dot);
  if (ext != ".log" && ext != ".live") return std::nullopt;
  std::uint64_t run = 0;
  for (std::size_t k = 0; k < dot; ++k) {
    if (name[k] < '0' || name[k] > '9') return std::nullopt;
    run = run * 10 + static_cast<std::uint64_t>(name[k] - '0');
  }
  return run;
}

std::string run_path(const std::string& folder, std::uint64_t run, bool live) {
  return folder + "/" + std::to_string(run) + (live ? ".live" : ".log");
}

// Ends a log whose writer is gone: a line says so, then it is .log.
void end_stale(const std::string& folder, std::uint64_t run) {
  const std::string live = run_path(folder, run, true);
  const int fd = ::open(live.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) {
    write_all(fd, "\n[dairector: the process writing this log stopped before the run ended]\n");
    ::close(fd);
  }
  ::rename(live.c_str(), run_path(folder, run, false).c_str());
}

struct open_log {
  int fd = -1;
  std::string folder;
  std::uint64_t run = 0;
  std::size_t bytes = 0;
  bool failed = false;  // said once; later chunks are dropped
};

struct writer_state {
  static inline const char* name = "dairector.stage_logs";
  stage_logs_config cfg;
  std::map<std::pair<std::string, std::uint64_t>, open_log> open;  // by (pipeline, run)
  bool full_said = false;
  ~writer_state() {
    for (auto& [key, l] : open)
      if (l.fd >= 0) ::close(l.fd);
  }
};

using writer_actor = caf::stateful_actor<writer_state>;

void say(writer_actor* self, const std::string& line) {
  if (self->state.cfg.log) self->state.cfg.log(line);
}

// Keeps at most runs_max - 1 runs in `folder`, oldest removed first: room for `run`.
void rotate(writer_actor* self, const std::string& folder, std::uint64_t run) {
  auto runs = stage_log_runs(folder);
  runs.erase(std::remove(runs.begin(), runs.end(), run), runs.end());
  const std::size_t keep = self->state.cfg.runs_max - 1;
  for (std::size_t k = 0; k + keep < runs.size(); ++k)
    for (bool live : {true, false}) ::unlink(run_path(folder, runs[k], live).c_str());
}

open_log open_run(writer_actor* self, const std::string& pipeline, const std::string& stage, std::uint64_t run) {
  open_log l;
  l.run = run;
  l.folder = stage_log_folder(self->state.cfg.root, pipeline, stage);
  const std::string pipeline_folder = l.folder.empty() ? "" : l.folder.substr(0, l.folder.rfind('/'));
  if (l.folder.empty() || !make_folder(pipeline_folder) || !make_folder(l.folder)) {
    say(self, "cannot keep the log of run " + std::to_string(run) + " of stage '" + stage.substr(0, 128) +
                  "': " + (l.folder.empty() ? std::string("its name is too long for a file name") : std::strerror(errno)));
    l.failed = true;
    return l;
  }
  // A late chunk of a run whose log has ended (it was ended for it: see
  // end_others) is dropped; run ids are never reused, so a .live that is
  // there is this run's own, appended to.
  if (auto f = find_stage_log(l.folder, run); f && !f->live) {
    l.failed = true;
    return l;
  }
  rotate(self, l.folder, run);
  const std::string path = run_path(l.folder, run, true);
  l.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (l.fd < 0) {
    say(self, "cannot write " + path + ": " + std::strerror(errno));
    l.failed = true;
  }
  return l;
}

void close_run(open_log& l) {
  if (l.fd < 0) return;
  ::close(l.fd);
  l.fd = -1;
  ::rename(run_path(l.folder, l.run, true).c_str(), run_path(l.folder, l.run, false).c_str());
}

// A stage has one live run at a time: when a new one starts, an older log of
// that stage still open lost its end (its worker process died, or it was
// fenced and killed): it is ended now, saying so, rather than held open.
void end_others(writer_actor* self, const std::string& pipeline, const std::string& folder, std::uint64_t run) {
  auto& open = self->state.open;
  for (auto it = open.lower_bound({pipeline, 0}); it != open.end() && it->first.first == pipeline;) {
    if (it->second.folder != folder || it->first.second == run) {
      ++it;
      continue;
    }
    if (it->second.fd >= 0) write_all(it->second.fd, "\n[dairector: this run's log ended before the run did (a newer run started)]\n");
    close_run(it->second);
    it = open.erase(it);
  }
}

caf::behavior stage_log_writer(writer_actor* self, stage_logs_config cfg) {
  self->state.cfg = std::move(cfg);
  return {
      [=](stage_log_atom, const std::string& pipeline, const std::string& stage, std::uint64_t run,
          const std::string&, const std::string& bytes, bool last) {
        auto& st = self->state;
        const auto key = std::make_pair(pipeline, run);
        auto it = st.open.find(key);
        if (it == st.open.end()) {
          if (st.open.size() >= stage_log_open_max) {
            if (!st.full_said) say(self, "more than " + std::to_string(stage_log_open_max) + " logs open: some are not kept");
            st.full_said = true;
            return;
          }
          open_log l = open_run(self, pipeline, stage, run);
          if (!l.failed) end_others(self, pipeline, l.folder, run);
          it = st.open.emplace(key, std::move(l)).first;
        }
        open_log& l = it->second;
        if (l.fd >= 0 && !bytes.empty()) {
          const std::size_t room = stage_log_file_bytes_max - std::min(l.bytes, stage_log_file_bytes_max);
          const std::string_view kept(bytes.data(), std::min(room, bytes.size()));
          if (!write_all(l.fd, kept)) {
            say(self, "cannot write the log of run " + std::to_string(run) + ": " + std::strerror(errno));
            ::close(l.fd);
            l.fd = -1;
          }
          l.bytes += kept.size();
        }
        if (last) {
          close_run(l);
          st.open.erase(it);
        }
      },
  };
}

}  // namespace

std::string stderr_bound::take(std::string_view bytes) {
  const std::size_t head = std::min(bytes.size(), stage_log_head_bytes_max - kept_);
  kept_ += head;
  std::string now(bytes.substr(0, head));
  bytes.remove_prefix(head);
  if (!bytes.empty()) {
    dropped_ += bytes.size();
    if (bytes.size() >= stage_log_tail_bytes_max) tail_.assign(bytes.substr(bytes.size() - stage_log_tail_bytes_max));
    else tail_.append(bytes);
    if (tail_.size() > 2 * stage_log_tail_bytes_max) tail_.erase(0, tail_.size() - stage_log_tail_bytes_max);
  }
  return now;
}

std::string stderr_bound::finish() {
  if (dropped_ == 0) return {};
  if (tail_.size() > stage_log_tail_bytes_max) tail_.erase(0, tail_.size() - stage_log_tail_bytes_max);
  std::string out = marker(dropped_ - tail_.size(), tail_.size());
  out += tail_;
  tail_.clear();
  return out;
}

std::string log_segment(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out.size() > segment_bytes_max ? std::string() : out;
}

std::string stage_log_folder(const std::string& root, std::string_view pipeline, std::string_view stage) {
  const std::string p = log_segment(pipeline), s = log_segment(stage);
  if (root.empty() || p.empty() || s.empty()) return {};
  return root + "/" + p + "/" + s;
}

std::vector<std::uint64_t> stage_log_runs(const std::string& folder) {
  std::vector<std::uint64_t> runs;
  for (const auto& name : names_in(folder))
    if (auto run = run_of(name)) runs.push_back(*run);
  std::sort(runs.begin(), runs.end());
  runs.erase(std::unique(runs.begin(), runs.end()), runs.end());
  return runs;
}

std::optional<stage_log_file> find_stage_log(const std::string& folder, std::uint64_t run) {
  struct stat sb{};
  for (bool live : {false, true}) {
    std::string path = run_path(folder, run, live);
    if (::lstat(path.c_str(), &sb) == 0 && S_ISREG(sb.st_mode)) return stage_log_file{std::move(path), live};
  }
  return std::nullopt;
}

caf::expected<caf::actor> spawn_stage_log_writer(caf::actor_system& sys, stage_logs_config cfg) {
  if (cfg.root.empty()) return caf::make_error(caf::sec::invalid_argument, "no folder for stage logs");
  if (!make_folder(cfg.root))
    return caf::make_error(caf::sec::invalid_argument,
                           "cannot create the stage log folder " + cfg.root + ": " + std::strerror(errno));
  ::chmod(cfg.root.c_str(), 0700);
  cfg.runs_max = std::clamp<std::size_t>(cfg.runs_max, 1, stage_log_runs_max);
  // Before the writer takes chunks: what is live now was a dead writer's.
  for (const auto& pipeline : names_in(cfg.root))
    for (const auto& stage : names_in(cfg.root + "/" + pipeline)) {
      const std::string folder = cfg.root + "/" + pipeline + "/" + stage;
      for (const auto& name : names_in(folder))
        if (auto run = run_of(name); run && name.size() > 5 && name.compare(name.size() - 5, 5, ".live") == 0)
          end_stale(folder, *run);
    }
  return sys.spawn<caf::detached>(stage_log_writer, std::move(cfg));
}

stage_log_sender::stage_log_sender(caf::event_based_actor* self, caf::actor to, std::string pipeline, std::string stage,
                                   std::uint64_t run, std::string capability)
    : self_(self), to_(std::move(to)), pipeline_(std::move(pipeline)), stage_(std::move(stage)),
      capability_(std::move(capability)), run_(run) {}

void stage_log_sender::open() { send({}, false); }

void stage_log_sender::add(std::string_view bytes) {
  std::string kept = bound_.take(bytes);
  for (std::size_t at = 0; at < kept.size(); at += stage_log_chunk_bytes_max)
    send(kept.substr(at, stage_log_chunk_bytes_max), false);
}

void stage_log_sender::close() {
  std::string rest = bound_.finish();
  while (rest.size() > stage_log_chunk_bytes_max) {
    send(rest.substr(0, stage_log_chunk_bytes_max), false);
    rest.erase(0, stage_log_chunk_bytes_max);
  }
  send(std::move(rest), true);
}

void stage_log_sender::send(std::string bytes, bool last) {
  if (to_) self_->send(to_, stage_log_atom::value, pipeline_, stage_, run_, capability_, std::move(bytes), last);
}

}  // namespace dairector::actors
