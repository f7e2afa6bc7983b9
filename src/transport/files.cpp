// The file operations every transport has (put, fetch, list, remove), built on run(): each is
// a fixed sh script whose paths and names arrive as its arguments ("$1", "$2"), never spliced
// into its text, so they work alike locally, over ssh, in a container and in a pod.
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "core/fd_io.hpp"
#include "transport/transport.hpp"

namespace ferry::transport {

namespace {

std::string octal(int mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%o", mode & 07777);
  return buf;
}

// Writes stdin to "$1" through "$1.ferry-tmp.PID" and a rename; "$2" is the mode.
Command put_command(const std::string& path, int mode) {
  Command c;
  c.argv = {"/bin/sh",
            "-c",
            "umask 077; t=\"$1.ferry-tmp.$$\"; trap 'rm -f -- \"$t\"' EXIT\n"
            "cat > \"$t\" && chmod \"$2\" \"$t\" && mv -f -- \"$t\" \"$1\"",
            "sh",
            path,
            octal(mode)};
  return c;
}

void check_put(const CommandResult& r, const std::string& path, const Transport& t) {
  if (!r.ok())
    throw Error(ErrorKind::Command,
                "cannot write '" + path + "' on " + t.describe() + ": " +
                    (r.last_line().empty() ? "exit " + std::to_string(r.exit_code) : r.last_line()));
}

std::string fetch_error(const CommandResult& r, const std::string& path, const Transport& t) {
  return "cannot read '" + path + "' on " + t.describe() + ": " +
         (r.last_line().empty() ? "exit " + std::to_string(r.exit_code) : r.last_line());
}

}  // namespace

void check_entry_name(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw Error(ErrorKind::Config, "'" + name + "' is not a name within a directory (no '/', '.' or '..')");
}

std::vector<std::string> Transport::command_line(const std::vector<std::string>& argv,
                                                 const std::vector<std::string>& /*env_names*/,
                                                 bool /*stdin_open*/) const {
  return argv;
}

void Transport::put_file(const std::string& path, const std::string& content, int mode) {
  Command c = put_command(path, mode);
  c.stdin_data = content;
  check_put(run(c), path, *this);
}

void Transport::put_local_file(const std::string& local_path, const std::string& path, int mode) {
  int fd = ::open(local_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorKind::Command, "cannot read local file '" + local_path + "'");
  Command c = put_command(path, mode);
  c.stdin_fd = fd;  // owned by run() from here
  check_put(run(c), path, *this);
}

std::string Transport::fetch_file(const std::string& path) {
  Command c;
  c.argv = {"/bin/sh", "-c", "exec cat -- \"$1\"", "sh", path};
  auto r = run(c);
  if (!r.ok()) throw Error(ErrorKind::Command, fetch_error(r, path, *this));
  return r.out;
}

void Transport::fetch_to_local(const std::string& path, const std::string& local_path) {
  std::string tmp = local_path + ".ferry-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(ErrorKind::Command, "cannot write local file '" + tmp + "'");
  Command c;
  c.argv = {"/bin/sh", "-c", "exec cat -- \"$1\"", "sh", path};
  bool write_failed = false;
  CommandResult r;
  try {
    r = run(c, [&](const char* d, size_t n) {
      if (!write_failed && !write_all(fd, d, n)) write_failed = true;
    });
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  bool closed = ::close(fd) == 0;
  if (!r.ok() || write_failed || !closed || ::rename(tmp.c_str(), local_path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorKind::Command,
                r.ok() ? "cannot write local file '" + local_path + "'" : fetch_error(r, path, *this));
  }
}

std::map<std::string, std::optional<std::string>> Transport::fetch_files(const std::string& dir,
                                                                         const std::vector<std::string>& names) {
  std::map<std::string, std::optional<std::string>> out;
  if (names.empty()) return out;
  // Per name: "SIZE\n" and the bytes, or "-\n". The size is of what cat wrote (a copy).
  Command c;
  c.argv = {"/bin/sh", "-c",
            "cd -- \"$1\" || exit 3; shift; t=$(mktemp) || exit 1; trap 'rm -f -- \"$t\"' EXIT\n"
            "for f; do if [ -f \"$f\" ] && cat -- \"$f\" > \"$t\" 2>/dev/null; then "
            "wc -c < \"$t\" | tr -d ' '; cat -- \"$t\"; else echo -; fi; done",
            "sh", dir};
  for (const auto& n : names) {
    check_entry_name(n);
    c.argv.push_back(n);
  }
  auto r = run(c);
  if (!r.ok()) throw Error(ErrorKind::Command, fetch_error(r, dir, *this));
  size_t pos = 0;
  for (const auto& n : names) {
    size_t nl = r.out.find('\n', pos);
    if (nl == std::string::npos) throw Error(ErrorKind::Command, "short output reading " + dir + " on " + describe());
    std::string head = r.out.substr(pos, nl - pos);
    pos = nl + 1;
    if (head == "-") {
      out[n] = std::nullopt;
      continue;
    }
    size_t len = std::stoul(head);
    if (pos + len > r.out.size()) throw Error(ErrorKind::Command, "short output reading " + dir + " on " + describe());
    out[n] = r.out.substr(pos, len);
    pos += len;
  }
  return out;
}

std::vector<std::string> Transport::list(const std::string& dir, const std::string& glob) {
  Command c;
  // Exit 3 with a reason: a directory that cannot be listed is never read as an empty one.
  c.argv = {"/bin/sh", "-c",
            "[ -e \"$1\" ] || { echo \"$1 does not exist\" >&2; exit 3; }\n"
            "[ -d \"$1\" ] || { echo \"$1 is not a directory\" >&2; exit 3; }\n"
            "[ -r \"$1\" ] && [ -x \"$1\" ] || { echo \"$1 is not readable by $(id -un)\" >&2; exit 3; }\n"
            "for f in \"$1\"/* \"$1\"/.[!.]* \"$1\"/..?*; do [ -e \"$f\" ] || [ -L \"$f\" ] || continue; "
            "printf '%s\\0' \"${f##*/}\"; done",
            "sh", dir};
  auto r = run(c);
  if (!r.ok()) {
    std::string why = r.last_line();
    throw Error(ErrorKind::Command, why.empty() ? "cannot list " + dir + " on " + describe() : why);
  }
  std::vector<std::string> names;
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t end = r.out.find('\0', pos);
    if (end == std::string::npos) end = r.out.size();
    std::string n = r.out.substr(pos, end - pos);
    pos = end + 1;
    if (!n.empty() && fnmatch(glob.c_str(), n.c_str(), FNM_PERIOD) == 0) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool Transport::remove(const std::string& dir, const std::string& name) {
  check_entry_name(name);
  Command c;
  c.argv = {"/bin/sh", "-c", "cd -- \"$1\" && rm -rf -- \"$2\"", "sh", dir, name};
  return run(c).ok();
}

}  // namespace ferry::transport
