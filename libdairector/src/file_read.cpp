#include "dairector/file_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dairector/json_bounds.hpp"

namespace dairector {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Closes the descriptor whichever way the read ends.
struct descriptor {
  int fd;
  ~descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

result<std::string> read_file(const std::string& path, std::size_t bytes_max, std::string_view what, errc code) {
  auto fail = [&](const std::string& why) { return make_error(code, path + ": " + why); };
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one.
  const descriptor file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)};
  if (file.fd < 0) return fail("cannot open " + std::string(what) + " (" + std::strerror(errno) + ")");
  struct stat sb{};
  if (::fstat(file.fd, &sb) != 0) return fail("cannot read " + std::string(what) + " (" + std::strerror(errno) + ")");
  if (!S_ISREG(sb.st_mode))
    return fail(std::string(what) + " is " + kind_of(sb.st_mode) + ", not a regular file");
  std::string out;
  if (sb.st_size > 0) out.reserve(std::min<std::size_t>(static_cast<std::size_t>(sb.st_size), bytes_max) + 1);
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(file.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot read " + std::string(what) + " (" + std::strerror(errno) + ")");
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > bytes_max)
      return fail(std::string(what) + " is larger than " + bytes_text(bytes_max) + " (the limit)");
  }
  return out;
}

}  // namespace dairector
