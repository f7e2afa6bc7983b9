#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/text.hpp"
#include "transport/transport.hpp"

extern char** environ;

namespace ferry::transport {

std::string CommandResult::last_line() const {
  for (const std::string* s : {&err, &out}) {
    std::string t = trim(*s);
    if (t.empty()) continue;
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
  }
  return "";
}

namespace {
struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (pipe2(fd, O_CLOEXEC) != 0) throw Error(ErrorKind::Transport, std::string("pipe: ") + strerror(errno));
  }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  void close_end(int i) {
    if (fd[i] >= 0) close(fd[i]);
    fd[i] = -1;
  }
};
}  // namespace

CommandResult LocalTransport::run(const Command& cmd, const OutputSink& sink) {
  if (cmd.argv.empty()) throw Error(ErrorKind::Internal, "empty command");
  Pipe in, out, err;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, cmd.stdin_fd >= 0 ? cmd.stdin_fd : in.fd[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], 2);
  if (!cmd.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cmd.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so a timeout kills the whole tree; default signal handling in the child.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && cmd.env.count(kv.substr(0, eq))) continue;
    env_store.push_back(kv);
  }
  for (const auto& [k, v] : cmd.env) env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  std::vector<std::string> argv_store = cmd.argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (cmd.stdin_fd >= 0) close(cmd.stdin_fd);  // the child has it now
  if (rc != 0) throw Error(ErrorKind::Transport, "cannot start '" + cmd.argv[0] + "': " + strerror(rc));
  in.close_end(0);
  out.close_end(1);
  err.close_end(1);

  CommandResult res;
  const std::string& input = cmd.stdin_data;
  size_t written = 0;
  if (input.empty() || cmd.stdin_fd >= 0)
    in.close_end(1);
  else
    fcntl(in.fd[1], F_SETFL, O_NONBLOCK);
  auto deadline =
      cmd.timeout ? std::chrono::steady_clock::now() + *cmd.timeout : std::chrono::steady_clock::time_point::max();
  std::vector<char> buf(1 << 16);
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd fds[3];
    int n = 0;
    int idx_out = -1, idx_err = -1, idx_in = -1;
    if (out.fd[0] >= 0) {
      idx_out = n;
      fds[n++] = {out.fd[0], POLLIN, 0};
    }
    if (err.fd[0] >= 0) {
      idx_err = n;
      fds[n++] = {err.fd[0], POLLIN, 0};
    }
    if (in.fd[1] >= 0) {
      idx_in = n;
      fds[n++] = {in.fd[1], POLLOUT, 0};
    }
    int wait_ms = 200;
    if (cmd.timeout) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) {
        res.timed_out = true;
        kill(-pid, SIGKILL);
        break;
      }
      wait_ms = static_cast<int>(std::min<long long>(left, 200));
    }
    if (cmd.on_tick) cmd.on_tick();
    if (cmd.should_stop && !res.stopped && cmd.should_stop()) {
      res.stopped = true;
      kill(-pid, SIGTERM);  // the process group: the script and everything it started
    }
    int pr = poll(fds, n, wait_ms);
    if (pr < 0 && errno != EINTR) break;
    if (pr <= 0) continue;
    auto drain = [&](int idx, Pipe& p, bool is_out) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      ssize_t got = read(p.fd[0], buf.data(), buf.size());
      if (got > 0) {
        if (is_out && sink)
          sink(buf.data(), static_cast<size_t>(got));
        else
          (is_out ? res.out : res.err).append(buf.data(), static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        p.close_end(0);
      }
    };
    drain(idx_out, out, true);
    drain(idx_err, err, false);
    if (idx_in >= 0 && (fds[idx_in].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t w = write(in.fd[1], input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN && errno != EINTR) in.close_end(1);
      if (written >= input.size()) in.close_end(1);
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status))
    res.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    res.exit_code = 128 + WTERMSIG(status);
  if (res.timed_out) res.exit_code = res.exit_code ? res.exit_code : 124;
  return res;
}

}  // namespace ferry::transport
