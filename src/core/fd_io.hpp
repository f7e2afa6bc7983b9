// Writing to a file descriptor whole: the one loop for partial writes and EINTR.
#pragma once
#include <cstddef>
#include <string>

namespace ferry {

// Writes all of [data, data+len) to fd, retrying EINTR; false (errno set) on failure, e.g.
// EPIPE once the reader of a pipe is gone (ferry ignores SIGPIPE), EIO for a write of 0 bytes.
bool write_all(int fd, const char* data, std::size_t len);

// A failed write's errno in words, "(is the disk full?)" added for ENOSPC and EDQUOT.
std::string write_error_text(int err);

// Owns a file descriptor until release(): closed when it goes out of scope (an exception on
// the way included).
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : m_fd(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : m_fd(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      m_fd = o.release();
    }
    return *this;
  }
  int get() const { return m_fd; }
  int release() {
    int fd = m_fd;
    m_fd = -1;
    return fd;
  }
  void reset();

 private:
  int m_fd;
};

}  // namespace ferry
