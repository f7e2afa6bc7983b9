#include "cli/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace ferry::cli {

namespace {
[[noreturn]] void cannot(const std::string& what, const std::string& path, int err) {
  throw Error(ErrorKind::Config, "cannot write " + what + " '" + path + "': " + std::strerror(err),
              what == "the state directory" ? "pass --state-dir DIR, a directory you can write" : "");
}

void make_private_dir(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) cannot("the state directory", dir.string(), ENOTDIR);
    return;
  }
  if (errno != ENOENT) cannot("the state directory", dir.string(), errno);
  if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dir(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) cannot("the state directory", dir.string(), errno);
}
}  // namespace

void prepare_state_dir(const std::string& dir, bool own) {
  fs::path runs = fs::path(dir) / "runs";
  make_private_dir(fs::path(dir));
  make_private_dir(runs);
  // Written by an older ferry with the umask's modes: journals are for the operator only.
  if (own) ::chmod(dir.c_str(), 0700);
  ::chmod(runs.c_str(), 0700);
  std::error_code ec;
  for (fs::directory_iterator it(runs, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".jsonl" && it->is_regular_file(ec)) ::chmod(it->path().c_str(), 0600);
  if (::access(runs.c_str(), W_OK | X_OK) != 0) cannot("the state directory", runs.string(), errno);
}

void prepare_report_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) cannot("the report file", path, errno);
  ::fchmod(fd, 0600);
  ::close(fd);
}

}  // namespace ferry::cli
