// Writing to a file descriptor whole: the one loop for partial writes and EINTR.
#pragma once
#include <cstddef>

namespace ferry {

// Writes all of [data, data+len) to fd; false (errno set) on failure, e.g. EPIPE once the
// reader of a pipe is gone (ferry ignores SIGPIPE).
bool write_all(int fd, const char* data, size_t len);

}  // namespace ferry
