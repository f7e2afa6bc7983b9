// LocalTransport's file operations, done in-process: the same contracts as the sh scripts of
// files.cpp (which remote transports keep), without a process per file. A fleet member writes
// a backup's sidecar and pins this way, where each write through a script cost five processes.
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/fd_io.hpp"
#include "transport/local_partial_file.hpp"
#include "transport/transport.hpp"

namespace ferry::transport {

namespace {

std::string why(int err) { return std::strerror(err); }

[[noreturn]] void cannot_write(const std::string& path, int err) {
  throw Error(ErrorKind::Command, "cannot write '" + path + "' on local: " + why(err));
}

[[noreturn]] void cannot_read(const std::string& path, int err) {
  throw Error(ErrorKind::Command, "cannot read '" + path + "' on local: " + why(err));
}

// Reads fd to its end into `out`; false (errno set) on failure.
bool read_all(int fd, std::string& out) {
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) return true;
    out.append(buf, static_cast<size_t>(r));
  }
}

// Copies src to fd until src's end; false (errno set) on failure.
bool copy_fd(int src, int fd) {
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(src, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) return true;
    if (!write_all(fd, buf, static_cast<size_t>(r))) return false;
  }
}

// The atomic write: a new temporary beside `path` (mkstemp: O_EXCL, 0600, never an existing
// file or a symlink), filled by `fill`, given `mode`, fsync'd, closed and renamed over `path`
// (rename replaces a symlink at `path`, it never writes through one). On any failure the
// temporary is removed and the old file, if any, is untouched.
template <class Fill>
void write_atomically(const std::string& path, int mode, Fill fill) {
  std::string tmp = path + ".ferry-tmp.XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) cannot_write(path, errno);
  bool ok = fill(fd) && ::fchmod(fd, static_cast<mode_t>(mode & 07777)) == 0 && ::fsync(fd) == 0;
  int err = errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(tmp.c_str());
    cannot_write(path, err);
  }
}

// The open file `src` (closed here, whatever happens) copied to `path` by write_atomically.
void copy_atomically(int src, const std::string& path, int mode) {
  UniqueFd closer(src);
  write_atomically(path, mode, [&](int fd) { return copy_fd(src, fd); });
}

// A directory opened for *at() calls, closed on scope exit.
UniqueFd open_dir(const std::string& dir) { return UniqueFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); }

// name's bytes when it is a readable regular file of dir (symlinks followed, as `[ -f ]` does).
std::optional<std::string> read_entry(int dirfd, const std::string& name) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string out;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read_all(fd, out);
  ::close(fd);
  if (!ok) return std::nullopt;
  return out;
}

std::string user_name() {
  if (auto* pw = ::getpwuid(::getuid())) return pw->pw_name;
  return std::to_string(::getuid());
}

}  // namespace

void LocalTransport::put_file(const std::string& path, const std::string& content, int mode) {
  write_atomically(path, mode, [&](int fd) { return write_all(fd, content.data(), content.size()); });
}

void LocalTransport::put_local_file(const std::string& local_path, const std::string& path, int mode) {
  int src = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) throw Error(ErrorKind::Command, "cannot read local file '" + local_path + "'");
  copy_atomically(src, path, mode);
}

std::string LocalTransport::fetch_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) cannot_read(path, errno);
  std::string out;
  bool ok = read_all(fd, out);
  int err = errno;
  ::close(fd);
  if (!ok) cannot_read(path, err);
  return out;
}

void LocalTransport::fetch_to_local(const std::string& path, const std::string& local_path) {
  int src = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (src < 0) cannot_read(path, errno);
  copy_atomically(src, local_path, 0600);
}

std::map<std::string, std::optional<std::string>> LocalTransport::fetch_files(const std::string& dir,
                                                                              const std::vector<std::string>& names) {
  std::map<std::string, std::optional<std::string>> out;
  if (names.empty()) return out;
  for (const auto& n : names) check_entry_name(n);
  UniqueFd d = open_dir(dir);
  if (d.get() < 0) cannot_read(dir, errno);
  for (const auto& n : names) out[n] = read_entry(d.get(), n);
  return out;
}

std::vector<std::string> LocalTransport::list(const std::string& dir, const std::string& glob) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)  // a dangling symlink too, as the script's `[ -e ]`
    throw Error(ErrorKind::Command, dir + " does not exist");
  if (!S_ISDIR(st.st_mode)) throw Error(ErrorKind::Command, dir + " is not a directory");
  DIR* d = ::access(dir.c_str(), R_OK | X_OK) == 0 ? ::opendir(dir.c_str()) : nullptr;
  if (!d) throw Error(ErrorKind::Command, dir + " is not readable by " + user_name());
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (fnmatch(glob.c_str(), n.c_str(), FNM_PERIOD) == 0) names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool LocalTransport::remove(const std::string& dir, const std::string& name) {
  check_entry_name(name);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || ::access(dir.c_str(), X_OK) != 0) return false;
  std::error_code ec;  // remove_all never follows a symlink: it removes the link itself
  std::filesystem::remove_all(std::filesystem::path(dir) / name, ec);
  return !ec;
}

bool make_directories(const std::string& dir, int mode) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    errno = ENOTDIR;
    return false;
  }
  for (size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    std::string part = dir.substr(0, pos);
    if (!part.empty() && ::mkdir(part.c_str(), static_cast<mode_t>(mode)) != 0 && errno != EEXIST) return false;
    if (pos == std::string::npos) break;
  }
  if (::stat(dir.c_str(), &st) != 0) return false;
  if (S_ISDIR(st.st_mode)) return true;
  errno = ENOTDIR;
  return false;
}

LocalPartialFile::LocalPartialFile(const std::string& partial, const std::string& final_path)
    : m_partial(partial), m_final(final_path) {
  m_fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (m_fd < 0) {
    std::string dir = std::filesystem::path(partial).parent_path().string();
    throw Error(ErrorKind::Command, "cannot write in backup directory " + dir + ": " + why(errno));
  }
}

LocalPartialFile::~LocalPartialFile() {
  if (m_fd >= 0) ::close(m_fd);
  if (!m_published) ::unlink(m_partial.c_str());
}

bool LocalPartialFile::write(const char* data, size_t len) {
  if (m_errno != 0) return false;
  if (!write_all(m_fd, data, len)) {
    m_errno = errno;
    return false;
  }
  m_size += static_cast<long long>(len);
  return true;
}

void LocalPartialFile::publish() {
  auto fail = [&](const std::string& what, int err) {
    throw Error(ErrorKind::Command, what + " " + m_final + ": " + why(err));
  };
  if (m_errno != 0) fail("cannot write", m_errno);
  if (::fsync(m_fd) != 0) fail("cannot write", errno);
  int fd = m_fd;
  m_fd = -1;
  if (::close(fd) != 0) fail("cannot write", errno);
  // As `mv -T`: a symlink planted at the final name is replaced, never followed.
  if (::rename(m_partial.c_str(), m_final.c_str()) != 0) fail("cannot create", errno);
  m_published = true;
  UniqueFd dir = open_dir(std::filesystem::path(m_final).parent_path().string());
  if (dir.get() >= 0) ::fsync(dir.get());  // the new name durable too
}

}  // namespace ferry::transport
