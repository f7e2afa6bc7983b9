#include "core/fd_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferry {

bool write_all(int fd, const char* data, std::size_t len) {
  while (len > 0) {
    ssize_t w = ::write(fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return false;
    }
    data += w;
    len -= static_cast<std::size_t>(w);
  }
  return true;
}

std::string write_error_text(int err) {
  return std::string(std::strerror(err)) + (err == ENOSPC || err == EDQUOT ? " (is the disk full?)" : "");
}

void UniqueFd::reset() {
  if (m_fd >= 0) ::close(m_fd);
  m_fd = -1;
}

}  // namespace ferry
