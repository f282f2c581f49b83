#include "dairector/actors/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "shepherd.hpp"

extern char** environ;

namespace dairector::actors {

namespace {

// PATH lookup in the parent: after fork only async-signal-safe calls are allowed.
std::string resolve_program(const std::string& name, const std::map<std::string, std::string>& env) {
  if (name.find('/') != std::string::npos) return name;
  std::string path;
  if (auto it = env.find("PATH"); it != env.end()) path = it->second;
  else if (const char* p = ::getenv("PATH")) path = p;
  else path = "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

std::string tail(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string with_stderr(std::string why, const std::string& err) {
  std::string t = tail(err, command_stderr_tail_bytes);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  if (!t.empty()) why += "; stderr: " + t;
  return why;
}

// The runs in flight, by the id on_started announced: their shepherds, which
// stay unreaped (so their pids cannot be reused) until run_process has
// taken them out of here.
struct live_runs {
  std::mutex mutex;
  std::unordered_map<pid_t, pid_t> shepherds;
  pid_t last_id = 0;
};
live_runs& runs() {
  static auto* r = new live_runs;  // never destroyed: a run may end on a thread that outlives main
  return *r;
}

pid_t add_run(pid_t shepherd) {
  auto& r = runs();
  std::lock_guard<std::mutex> guard(r.mutex);
  do r.last_id = r.last_id == INT_MAX ? 1 : r.last_id + 1;
  while (r.shepherds.count(r.last_id) != 0);
  r.shepherds[r.last_id] = shepherd;
  return r.last_id;
}

void remove_run(pid_t id) {
  auto& r = runs();
  std::lock_guard<std::mutex> guard(r.mutex);
  r.shepherds.erase(id);
}

std::atomic<int> held_in_runs{-1};

// The pipes between the runtime and one shepherd; the runtime's ends are
// closed by the destructor.
struct run_pipes {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, status[2] = {-1, -1}, control[2] = {-1, -1};
  bool open() {
    for (int* p : {in, out, err, status, control})
      if (::pipe2(p, O_CLOEXEC) != 0) return false;
    return true;
  }
  void close_shepherd_ends() {
    for (int* fd : {&in[0], &out[1], &err[1], &status[1], &control[0]}) close_one(*fd);
  }
  static void close_one(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ~run_pipes() {
    close_shepherd_ends();
    for (int* fd : {&in[1], &out[0], &err[0], &status[0], &control[1]}) close_one(*fd);
  }
};

// One read of what `fd` holds into `into`: the bytes read, 0 at end of
// file, -1 when nothing is ready, -2 on an error.
ssize_t read_some(int fd, std::string& into) {
  char buf[65536];
  ssize_t r;
  do r = ::read(fd, buf, sizeof buf); while (r < 0 && errno == EINTR);
  if (r > 0) into.append(buf, static_cast<std::size_t>(r));
  return r >= 0 ? r : errno == EAGAIN ? -1 : -2;
}

}  // namespace

void hold_in_runs(int fd) {
  // The copy is never closed: closing any descriptor of the lock file would
  // drop this process's own POSIX lock on it.
  static std::mutex once;
  std::lock_guard<std::mutex> guard(once);
  if (fd >= 0 && held_in_runs.load() < 0) held_in_runs.store(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
}

void kill_process_group(pid_t id) {
  auto& r = runs();
  std::lock_guard<std::mutex> guard(r.mutex);
  if (auto it = r.shepherds.find(id); it != r.shepherds.end()) ::kill(it->second, SIGTERM);
}

process_outcome run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                            const std::string& workdir, const std::string& input, std::chrono::milliseconds timeout,
                            const std::function<void(pid_t)>& on_started,
                            const std::function<void(std::string_view)>& on_stderr) {
  process_outcome out;
  if (argv.empty()) {
    out.error = "empty command";
    return out;
  }
  const std::string program = resolve_program(argv[0], env);
  if (program.empty()) {
    out.error = "command not found: " + argv[0];
    return out;
  }
  // Everything the shepherd and the command need is built before fork.
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && env.count(kv.substr(0, eq))) continue;
    env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env_strings) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  const detail::command_image image{program.c_str(), cargv.data(), cenv.data(), workdir.c_str()};

  // A command that exits without reading its input must not kill this
  // process with SIGPIPE: block it on this thread (the write then fails with
  // EPIPE), drain it before returning. The shepherd's signals are blocked
  // too across the fork, so that a kill sent the moment it exists waits for
  // its signalfd instead of meeting a handler it inherited.
  sigset_t blocked, old_mask;
  sigemptyset(&blocked);
  for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&blocked, s);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &old_mask);
  struct restore_mask {
    sigset_t old;
    ~restore_mask() {
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      timespec zero{0, 0};
      while (::sigtimedwait(&pipe_signal, nullptr, &zero) > 0) {
      }
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  } restore{old_mask};

  run_pipes pipes;
  if (!pipes.open()) {
    out.error = std::string("cannot create pipes: ") + std::strerror(errno);
    return out;
  }
  const pid_t shepherd = ::fork();
  if (shepherd < 0) {
    out.error = std::string("cannot fork: ") + std::strerror(errno);
    return out;
  }
  if (shepherd == 0)
    detail::run_shepherd({pipes.in[0], pipes.out[1], pipes.err[1], pipes.status[1], pipes.control[0],
                          held_in_runs.load()},
                         image);
  pipes.close_shepherd_ends();
  const pid_t id = add_run(shepherd);
  if (on_started) on_started(id);
  for (int fd : {pipes.in[1], pipes.out[0], pipes.err[0], pipes.status[0]}) set_nonblocking(fd);

  // Until the shepherd is gone (its status pipe ends), which it is only once
  // every process of the run is dead: so the output pipes hold all there is.
  // The deadline is the clock's, whatever the command does with its pipes.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t written = 0;
  int& in_fd = pipes.in[1];
  int& out_fd = pipes.out[0];
  int& err_fd = pipes.err[0];
  int& status_fd = pipes.status[0];
  if (input.empty()) run_pipes::close_one(in_fd);
  std::string stdout_data, stderr_data;
  bool timed_out = false, too_big = false, ending = false;
  std::string status_data;  // the shepherd's report
  // Standard error goes to the log as it comes; only its tail is kept here.
  auto read_stderr = [&]() -> ssize_t {
    const std::size_t before = stderr_data.size();
    const ssize_t r = read_some(err_fd, stderr_data);
    if (r > 0 && on_stderr) on_stderr(std::string_view(stderr_data).substr(before));
    if (stderr_data.size() > 4 * command_stderr_tail_bytes)
      stderr_data.erase(0, stderr_data.size() - command_stderr_tail_bytes);
    return r;
  };
  auto end_run = [&] {
    if (!ending) kill_process_group(id);
    ending = true;
  };
  while (status_fd >= 0) {
    int wait_ms = -1;
    if (!ending) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        timed_out = true;
        end_run();
        continue;
      }
      wait_ms = static_cast<int>(std::min<long long>(left.count(), INT_MAX));
    }
    pollfd fds[4];
    nfds_t n = 0;
    for (int fd : {out_fd, err_fd, status_fd})
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (::poll(fds, n, wait_ms) < 0 && errno != EINTR) {
      end_run();  // cannot watch it: end it rather than leave it
      break;
    }
    for (nfds_t k = 0; k < n; ++k) {
      if (fds[k].revents == 0) continue;
      const int fd = fds[k].fd;
      if (fd == in_fd) {
        const ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();  // the command closed stdin: fine
        if (written >= input.size()) run_pipes::close_one(in_fd);
        continue;
      }
      int& which = fd == out_fd ? out_fd : fd == err_fd ? err_fd : status_fd;
      const ssize_t r = fd == err_fd ? read_stderr() : read_some(fd, fd == out_fd ? stdout_data : status_data);
      if (r == 0 || r == -2) run_pipes::close_one(which);
    }
    if (stdout_data.size() > command_stdout_bytes_max && !too_big) {
      too_big = true;
      run_pipes::close_one(out_fd);
      end_run();
    }
  }
  // Every writer is dead: what is left in the pipes is all there is.
  while (out_fd >= 0 && stdout_data.size() <= command_stdout_bytes_max && read_some(out_fd, stdout_data) > 0) {
  }
  while (err_fd >= 0 && read_stderr() > 0) {
  }
  too_big = too_big || stdout_data.size() > command_stdout_bytes_max;
  // Out of the table before the shepherd is reaped: a late kill then finds
  // nothing rather than a reused pid.
  remove_run(id);
  int shepherd_status = 0;
  while (::waitpid(shepherd, &shepherd_status, 0) < 0 && errno == EINTR) {
  }
  detail::shepherd_report report;
  const bool reported = status_data.size() >= sizeof report;
  if (reported) std::memcpy(&report, status_data.data(), sizeof report);
  const int status = report.value;

  if (timed_out) {
    out.error = with_stderr("timed out after " + std::to_string(timeout.count() / 1000) +
                                " s (the command and every process it started were killed)",
                            stderr_data);
  } else if (too_big) {
    out.error = "standard output exceeded " + std::to_string(command_stdout_bytes_max) + " bytes";
  } else if (!reported) {
    out.error = with_stderr("its processes were killed before it exited", stderr_data);
  } else if (report.kind == detail::shepherd_report::cannot_start) {
    out.error = std::string("cannot start the command: ") + std::strerror(status);
  } else if (WIFSIGNALED(status)) {
    out.error = with_stderr("killed by signal " + std::to_string(WTERMSIG(status)), stderr_data);
  } else if (WEXITSTATUS(status) != 0) {
    out.error = with_stderr("exited with status " + std::to_string(WEXITSTATUS(status)), stderr_data);
  } else {
    out.ok = true;
    out.output = std::move(stdout_data);
    out.error = tail(stderr_data, command_stderr_tail_bytes);
  }
  return out;
}

}  // namespace dairector::actors
