#include "shepherd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

namespace dairector::actors::detail {

namespace {

// A chain of parents longer than this is not followed in one sweep: once the
// processes in between are dead, the rest hang below the shepherd directly
// and the next sweep finds them.
constexpr int ancestry_depth_max = 64;

// The signals the shepherd takes through its signalfd: a child that exits,
// and a request to end the run (the runtime sends SIGTERM; SIGINT and SIGHUP
// from anyone else mean the same).
sigset_t shepherd_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  return set;
}

void set_disposition(int signal, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  ::sigaction(signal, &sa, nullptr);
}

// "/proc/<pid><suffix>" into `out` (at least 40 bytes), without stdio.
void proc_path(char* out, pid_t pid, const char* suffix) {
  char digits[16];
  int n = 0;
  auto v = static_cast<unsigned>(pid);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 16);
  for (const char* s = "/proc/"; *s; ++s) *out++ = *s;
  while (n > 0) *out++ = digits[--n];
  for (const char* s = suffix; *s; ++s) *out++ = *s;
  *out = '\0';
}

// A decimal process id, or -1 (a /proc entry that is not a process).
pid_t parse_pid(const char* s) {
  long v = 0;
  if (*s == '\0') return -1;
  for (; *s; ++s) {
    if (*s < '0' || *s > '9' || v > 100000000) return -1;
    v = v * 10 + (*s - '0');
  }
  return static_cast<pid_t>(v);
}

// The parent of `pid` from /proc/PID/stat ("pid (comm) state ppid ..."); the
// name may hold spaces and parentheses, so the last ')' ends it. -1: gone.
pid_t parent_of(pid_t pid) {
  char path[40];
  proc_path(path, pid, "/stat");
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[256];
  ssize_t n;
  do n = ::read(fd, buf, sizeof buf); while (n < 0 && errno == EINTR);
  ::close(fd);
  ssize_t end = -1;
  for (ssize_t i = 0; i < n; ++i)
    if (buf[i] == ')') end = i;
  ssize_t i = end + 4;  // past ") S "
  if (end < 0 || i >= n) return -1;
  long parent = -1;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9' && parent < 100000000; ++i)
    parent = (parent < 0 ? 0 : parent * 10) + (buf[i] - '0');
  return static_cast<pid_t>(parent);
}

bool below(pid_t pid, pid_t shepherd) {
  for (int depth = 0; depth < ancestry_depth_max; ++depth) {
    const pid_t parent = parent_of(pid);
    if (parent == shepherd) return true;
    if (parent <= 1) return false;
    pid = parent;
  }
  return false;
}

// Calls `each(name)` for every entry of the directory `path` (raw getdents64:
// opendir allocates).
template <class Each>
void for_each_entry(const char* path, Each each) {
  const int dir = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name.
    for (long off = 0; off < n;) {
      unsigned short reclen = 0;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      if (reclen == 0) break;
      each(dir, buf + off + 19);
      off += reclen;
    }
  }
  ::close(dir);
}

// SIGKILL to every process below the shepherd, at any depth, in one pass.
void kill_descendants(pid_t shepherd) {
  for_each_entry("/proc", [&](int, const char* name) {
    const pid_t pid = parse_pid(name);
    if (pid > 1 && pid != shepherd && below(pid, shepherd)) ::kill(pid, SIGKILL);
  });
}

void close_fds(unsigned lo, unsigned hi) {
  if (lo > hi) return;
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, lo, hi, 0) == 0) return;
#endif
  for_each_entry("/proc/self/fd", [&](int dir, const char* name) {
    const pid_t fd = parse_pid(name);
    if (fd >= 0 && fd != dir && static_cast<unsigned>(fd) >= lo && static_cast<unsigned>(fd) <= hi) ::close(fd);
  });
}

// The shepherd holds only what it needs: a descriptor it kept from the
// runtime by accident (another run's pipe, a socket) would keep that open
// for as long as this run lasts. Its own are first moved above 0..2, which
// become /dev/null.
void keep_only(shepherd_fds& fds) {
  int* mine[] = {&fds.in_read, &fds.out_write, &fds.err_write, &fds.status_write, &fds.control_read, &fds.keep};
  for (int* fd : mine)
    if (*fd >= 0 && *fd < 3) *fd = ::fcntl(*fd, F_DUPFD_CLOEXEC, 3);
  int sorted[6];
  int n = 0;
  for (int* fd : mine) {
    if (*fd < 0) continue;
    int k = n++;
    for (; k > 0 && sorted[k - 1] > *fd; --k) sorted[k] = sorted[k - 1];
    sorted[k] = *fd;
  }
  unsigned lo = 3;
  for (int k = 0; k < n; ++k) {
    const auto fd = static_cast<unsigned>(sorted[k]);
    if (fd > lo) close_fds(lo, fd - 1);
    if (fd >= lo) lo = fd + 1;
  }
  close_fds(lo, ~0u);
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return;
  for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
  if (null > 2) ::close(null);
}

[[noreturn]] void exec_command(const shepherd_fds& fds, const command_image& command) {
  ::setpgid(0, 0);
  // All three are above 2 (keep_only), so no dup2 overwrites another.
  ::dup2(fds.in_read, 0);
  ::dup2(fds.out_write, 1);
  ::dup2(fds.err_write, 2);
  // Default dispositions and mask for the command, whatever the runtime set
  // (an ignored signal stays ignored across exec).
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) set_disposition(s, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (command.workdir[0] != '\0' && ::chdir(command.workdir) != 0) {
    const char msg[] = "dairector: cannot enter the working directory\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::execve(command.program, command.argv, command.envp);
  const char msg[] = "dairector: exec failed\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::_exit(127);
}

void report(int fd, shepherd_report::kind_t kind, int value) {
  shepherd_report r;
  r.kind = kind;
  r.value = value;
  ssize_t n;
  do n = ::write(fd, &r, sizeof r); while (n < 0 && errno == EINTR);
}

}  // namespace

[[noreturn]] void run_shepherd(shepherd_fds fds, const command_image& command) {
  keep_only(fds);
  // Its own process group: a Ctrl-C on the runtime's terminal is the
  // runtime's to handle (it cancels), not the shepherd's.
  ::setpgid(0, 0);
  // A kernel without subreapers (before 3.4) still has the group kill below.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  ::prctl(PR_SET_NAME, "dairector-shep", 0, 0, 0);  // what ps and top show (15 bytes at most)
  // The runtime forked with these blocked, so a request that came early is
  // pending here, not lost to a handler inherited from the runtime.
  const sigset_t signals = shepherd_signals();
  ::sigprocmask(SIG_SETMASK, &signals, nullptr);
  set_disposition(SIGCHLD, SIG_DFL);  // never SIG_IGN: the shepherd reaps
  set_disposition(SIGPIPE, SIG_IGN);  // a report to a runtime that is gone
  const int sfd = ::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    report(fds.status_write, shepherd_report::cannot_start, errno);
    ::_exit(0);
  }
  const pid_t command_pid = ::fork();
  if (command_pid < 0) {
    report(fds.status_write, shepherd_report::cannot_start, errno);
    ::_exit(0);
  }
  if (command_pid == 0) exec_command(fds, command);
  ::setpgid(command_pid, command_pid);  // also here: no race with the group kill
  ::close(fds.in_read);
  ::close(fds.out_write);
  ::close(fds.err_write);

  const pid_t self = ::getpid();
  bool reaped = false, reported = false;
  int status = 0;
  auto reap_ready = [&] {
    int st = 0;
    pid_t p;
    while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
      if (p != command_pid) continue;
      reaped = true;
      status = st;
    }
    return p;  // 0: some still run; -1 (ECHILD): none left
  };
  for (bool end = false; !end;) {
    pollfd p[2] = {{fds.control_read, POLLIN, 0}, {sfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents != 0) {
      signalfd_siginfo info[8];
      const ssize_t n = ::read(sfd, info, sizeof info);
      for (ssize_t k = 0; k < n / static_cast<ssize_t>(sizeof info[0]); ++k)
        if (info[k].ssi_signo != SIGCHLD) end = true;
      reap_ready();
    }
    // The runtime writes nothing on the control pipe: readable means closed.
    if (p[0].revents != 0 || reaped) end = true;
  }
  if (reaped) {
    report(fds.status_write, shepherd_report::exited, status);
    reported = true;
  }
  // Kill and reap until no process is left below: with no child at all,
  // there is no descendant either.
  for (;;) {
    const pid_t left = reap_ready();
    if (left < 0 && errno != EINTR) break;
    // The group id cannot have been reused while its leader is unreaped.
    if (!reaped) ::kill(-command_pid, SIGKILL);
    kill_descendants(self);
    int st = 0;
    if (::waitpid(-1, &st, 0) == command_pid) {  // until one more is gone
      reaped = true;
      status = st;
    }
  }
  if (reaped && !reported) report(fds.status_write, shepherd_report::exited, status);
  ::_exit(0);
}

}  // namespace dairector::actors::detail
