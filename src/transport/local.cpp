// Local child processes, through Boost.Process (the only user of Boost.Process). Each command
// runs in its own process group (bp::group), so a timeout or a stop reaches everything it
// started; stdout and stderr come through asio pipes as they arrive; one asio timer carries the
// deadline, the ticks and the stop check.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/process/args.hpp>
#include <boost/process/async_pipe.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/group.hpp>
#include <boost/process/io.hpp>
#include <boost/process/posix.hpp>
#include <boost/process/search_path.hpp>
#include <boost/process/start_dir.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>

#include "transport/transport.hpp"

namespace ferry::transport {

namespace {

namespace asio = boost::asio;
namespace bp = boost::process;
using Clock = std::chrono::steady_clock;
constexpr auto k_tick = std::chrono::milliseconds(200);

// Runs in the child between fork and exec (async-signal-safe calls only): default signal
// dispositions and an empty mask (ferry ignores SIGPIPE; a pipeline in the child must not), and
// no descriptor of ferry's past exec, whether or not its opener set FD_CLOEXEC. Boost's own
// exec-error pipe is FD_CLOEXEC already, so marking (not closing) keeps its error reports.
// (bp::limit_handles closes that pipe too: a missing program would look like an exit 1.)
struct ChildSetup : bp::extend::handler {
  const char* path;  // the resolved program; argv[0] stays as the caller wrote it
  bool defer_stop_signals = false;
  template <class Executor>
  void on_exec_setup(Executor& e) const {
    e.exe = path;
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s) sigaction(s, &dfl, nullptr);  // SIGKILL, SIGSTOP: EINVAL, harmless
    sigset_t mask;
    sigemptyset(&mask);
    if (defer_stop_signals) {
      sigaddset(&mask, SIGINT);
      sigaddset(&mask, SIGTERM);
    }
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    rlimit lim{};
    int top = getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? static_cast<int>(lim.rlim_cur) : 65536;
    for (int fd = 3; fd < top; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
};

// A write to a pipe whose reader is gone must be EPIPE, not a signal that ends ferry (the CLI
// ignores SIGPIPE; a program embedding the transport may not have).
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  });
}

// The program as exec will find it: on PATH, or a path (a relative one from the command's cwd).
std::string resolve(const std::string& program, const std::string& cwd) {
  if (program.find('/') != std::string::npos) {
    std::string at = program[0] == '/' || cwd.empty() ? program : cwd + "/" + program;
    if (access(at.c_str(), X_OK) != 0)
      throw Error(ErrorKind::Transport, "cannot start '" + program + "': " + strerror(errno));
    return program;
  }
  auto found = find_on_path(program);
  if (found.empty()) throw Error(ErrorKind::Transport, "cannot start '" + program + "': " + strerror(ENOENT));
  return found;
}

// One command's I/O: stdout and stderr read as they come, stdin written, ticks and deadline.
class Session {
 public:
  Session(const Command& cmd, const OutputSink& sink) : m_cmd(cmd), m_sink(sink) {}

  CommandResult run() {
    std::string path;
    int stdin_src = -1;
    try {
      path = resolve(m_cmd.argv[0], m_cmd.cwd);
      stdin_src = stdin_source();
    } catch (...) {
      if (m_cmd.stdin_fd >= 0) close(m_cmd.stdin_fd);  // ours from the call on, started or not
      throw;
    }
    bp::environment env = boost::this_process::environment();
    for (const auto& [k, v] : m_cmd.env) env[k] = v;
    bp::child child;
    try {
      ChildSetup setup;
      setup.path = path.c_str();
      setup.defer_stop_signals = m_cmd.defer_stop_signals;
      child = bp::child(bp::exe = m_cmd.argv[0],
                        bp::args = std::vector<std::string>(m_cmd.argv.begin() + 1, m_cmd.argv.end()), env,
                        bp::posix::fd.bind(STDIN_FILENO, stdin_src), bp::std_out > m_out, bp::std_err > m_err,
                        bp::start_dir = m_cmd.cwd.empty() ? std::string(".") : m_cmd.cwd, m_group, setup);
    } catch (const std::system_error& e) {
      close(stdin_src);
      throw Error(ErrorKind::Transport, "cannot start '" + m_cmd.argv[0] + "': " + e.code().message());
    }
    close(stdin_src);  // the child has it now: a writer on the other end sees EPIPE once it is gone
    pump();
    child.wait();
    m_group.detach();  // what the command left running on purpose (a restarted service) stays
    return finish(child.native_exit_code());
  }

 private:
  // The descriptor the child gets as stdin: the caller's descriptor alone, or ours carrying
  // stdin_data and then (when given) the caller's descriptor's bytes.
  int stdin_source() {
    if (m_cmd.stdin_fd >= 0 && m_cmd.stdin_data.empty()) return m_cmd.stdin_fd;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorKind::Transport, std::string("pipe: ") + strerror(errno));
    m_in.assign(p[1]);
    if (m_cmd.stdin_fd >= 0) m_src.assign(m_cmd.stdin_fd);
    if (m_cmd.stdin_data.empty()) m_in.close();
    return p[0];
  }

  // After stdin_data: the caller's descriptor copied into the child's stdin until its end.
  void copy_stdin(const boost::system::error_code& ec) {
    if (ec || !m_src.is_open()) return close_stdin();
    m_src.async_read_some(asio::buffer(m_in_buf), [this](const boost::system::error_code& rec, size_t n) {
      if (rec || n == 0) return close_stdin();
      asio::async_write(m_in, asio::buffer(m_in_buf.data(), n),
                        [this](const boost::system::error_code& wec, size_t) { copy_stdin(wec); });
    });
  }
  void close_stdin() {
    boost::system::error_code ignored;
    m_in.close(ignored);
    m_src.close(ignored);
  }

  void pump() {
    m_deadline = m_cmd.timeout ? Clock::now() + *m_cmd.timeout : Clock::time_point::max();
    if (m_in.is_open())
      asio::async_write(m_in, asio::buffer(m_cmd.stdin_data),
                        [this](const boost::system::error_code& ec, size_t) { copy_stdin(ec); });
    read(m_out, m_out_buf, true);
    read(m_err, m_err_buf, false);
    tick();
    m_io.run();
  }

  void read(bp::async_pipe& pipe, std::array<char, 1 << 16>& buf, bool is_out) {
    pipe.async_read_some(asio::buffer(buf), [this, &pipe, &buf, is_out](const boost::system::error_code& ec, size_t n) {
      if (n > 0) {
        if (is_out && m_sink)
          m_sink(buf.data(), n);
        else
          (is_out ? m_res.out : m_res.err).append(buf.data(), n);
      }
      if (!ec) return read(pipe, buf, is_out);
      if (--m_open_streams == 0) done();
    });
  }

  void tick() {
    if (m_cmd.on_tick) m_cmd.on_tick();
    if (m_cmd.should_stop && !m_res.stopped && m_cmd.should_stop()) {
      m_res.stopped = true;
      ::kill(-m_group.native_handle(), SIGTERM);  // the process group: the script and all it started
      if (m_cmd.kill_after_stop) m_kill_at = Clock::now() + *m_cmd.kill_after_stop;
    }
    auto now = Clock::now();
    if (now >= m_kill_at) {  // it ignored the SIGTERM
      m_res.killed_after_stop = true;
      std::error_code ec;
      m_group.terminate(ec);  // SIGKILL to the whole group
      return done();
    }
    if (now >= m_deadline) {
      m_res.timed_out = true;
      std::error_code ec;
      m_group.terminate(ec);  // SIGKILL to the whole group
      return done();
    }
    m_timer.expires_after(std::min<Clock::duration>({k_tick, m_deadline - now, m_kill_at - now}));
    m_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) tick();
    });
  }

  void done() { m_io.stop(); }

  CommandResult finish(int status) {
    if (WIFEXITED(status))
      m_res.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      m_res.exit_code = 128 + WTERMSIG(status);
    if (m_res.timed_out && m_res.exit_code == 0) m_res.exit_code = 124;
    return std::move(m_res);
  }

  const Command& m_cmd;
  const OutputSink& m_sink;
  asio::io_context m_io;
  bp::async_pipe m_out{m_io}, m_err{m_io};
  asio::posix::stream_descriptor m_in{m_io}, m_src{m_io};
  std::array<char, 1 << 16> m_in_buf{};
  asio::steady_timer m_timer{m_io};
  bp::group m_group;
  std::array<char, 1 << 16> m_out_buf{}, m_err_buf{};
  int m_open_streams = 2;
  Clock::time_point m_deadline;
  Clock::time_point m_kill_at = Clock::time_point::max();  // set by a stop with kill_after_stop
  CommandResult m_res;
};

}  // namespace

std::string find_on_path(const std::string& program) { return bp::search_path(program).string(); }

CommandResult LocalTransport::run(const Command& cmd, const OutputSink& sink) {
  if (cmd.argv.empty()) {
    if (cmd.stdin_fd >= 0) ::close(cmd.stdin_fd);  // ours from the call on: a writer sees EPIPE
    throw Error(ErrorKind::Internal, "empty command");
  }
  ignore_sigpipe_once();
  return Session(cmd, sink).run();
}

}  // namespace ferry::transport
