// Writing to a file descriptor whole: the one loop for partial writes and EINTR.
#pragma once
#include <cstddef>

namespace ferry {

// Writes all of [data, data+len) to fd, retrying EINTR; false (errno set) on failure, e.g.
// EPIPE once the reader of a pipe is gone (ferry ignores SIGPIPE), EIO for a write of 0 bytes.
bool write_all(int fd, const char* data, std::size_t len);

}  // namespace ferry
