#include "dairector/actors/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <cerrno>
#include <cstring>

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

}  // namespace

void kill_process_group(pid_t pgid) {
  if (pgid > 0) ::kill(-pgid, SIGKILL);
}

process_outcome run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                            const std::string& workdir, const std::string& input, std::chrono::milliseconds timeout,
                            const std::function<void(pid_t)>& on_started) {
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
  // Everything the child needs is built before fork.
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

  // A command that exits without reading its input must not kill this
  // process with SIGPIPE: block it on this thread (the write then fails with
  // EPIPE), drain it before returning; the child gets the old mask back.
  sigset_t pipe_signal, old_mask;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &old_mask);
  struct restore_mask {
    sigset_t set, old;
    ~restore_mask() {
      timespec zero{0, 0};
      while (::sigtimedwait(&set, nullptr, &zero) > 0) {
      }
      ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }
  } restore{pipe_signal, old_mask};

  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    out.error = std::string("cannot create pipes: ") + std::strerror(errno);
    return out;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    out.error = std::string("cannot fork: ") + std::strerror(errno);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    return out;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    // Default signal dispositions and mask for the command, whatever the runtime set.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) {
      const char msg[] = "dairector: cannot enter the working directory\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    ::execve(program.c_str(), cargv.data(), cenv.data());
    const char msg[] = "dairector: exec failed\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also in the parent: no race with an early kill
  if (on_started) on_started(pid);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  set_nonblocking(in_pipe[1]);
  set_nonblocking(out_pipe[0]);
  set_nonblocking(err_pipe[0]);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t written = 0;
  int in_fd = in_pipe[1], out_fd = out_pipe[0], err_fd = err_pipe[0];
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  std::string stdout_data, stderr_data;
  bool timed_out = false, too_big = false, reaped = false;
  int status = 0;
  char buf[65536];
  while (out_fd >= 0 || err_fd >= 0) {
    // A leader that exited while something it started holds the pipes open:
    // the group goes with it, so the pipes close.
    if (!reaped && ::waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      kill_process_group(pid);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3];
    int n = 0;
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    int wait_ms = static_cast<int>(std::min<long long>(left.count(), 200));
    int rc = ::poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (rc < 0 && errno != EINTR) break;
    for (int k = 0; k < n && rc > 0; ++k) {
      if (fds[k].revents == 0) continue;
      if (fds[k].fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) written = input.size();  // the command closed stdin: fine
        if (written >= input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      ssize_t r = ::read(fds[k].fd, buf, sizeof buf);
      if (r > 0) {
        std::string& dst = fds[k].fd == out_fd ? stdout_data : stderr_data;
        dst.append(buf, static_cast<std::size_t>(r));
        if (fds[k].fd == err_fd && stderr_data.size() > 4 * command_stderr_tail_bytes)
          stderr_data.erase(0, stderr_data.size() - command_stderr_tail_bytes);
        if (stdout_data.size() > command_stdout_bytes_max) {
          too_big = true;
          break;
        }
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(fds[k].fd);
        (fds[k].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
    if (too_big) break;
  }
  if (timed_out || too_big) kill_process_group(pid);
  while (!reaped && ::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  kill_process_group(pid);  // stragglers the command left behind
  for (int fd : {in_fd, out_fd, err_fd})
    if (fd >= 0) ::close(fd);

  if (timed_out) {
    out.error = with_stderr("timed out after " + std::to_string(timeout.count() / 1000) + " s (process group killed)",
                            stderr_data);
  } else if (too_big) {
    out.error = "standard output exceeded " + std::to_string(command_stdout_bytes_max) + " bytes";
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
