#include "steps/backup_here.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "compress/zstd.hpp"
#include "core/interrupt.hpp"
#include "core/text.hpp"
#include "steps/backup_internal.hpp"
#include "steps/backup_tools.hpp"
#include "steps/progress.hpp"
#include "transport/local_partial_file.hpp"

namespace ferry::steps::detail {

namespace {

// The verifier's stdin: pg_restore reads the decompressed archive from this pipe on its own
// thread. A write after pg_restore is gone fails (EPIPE: ferry ignores SIGPIPE); `broken` says so.
class VerifierPipe {
 public:
  VerifierPipe(transport::Transport& at, transport::Command cmd) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorKind::Internal, "pipe failed: " + std::string(strerror(errno)));
    m_fd = p[1];
    cmd.stdin_fd = p[0];  // owned by the transport from here
    m_thread = std::thread([this, &at, cmd = std::move(cmd)] {
      try {
        m_result = at.run(cmd);
      } catch (const std::exception& e) {
        m_result.exit_code = 127;
        m_result.err = e.what();
      }
    });
  }
  ~VerifierPipe() { close_and_wait(); }
  bool write(const char* d, size_t n) {
    while (n > 0 && !m_broken) {
      ssize_t w = ::write(m_fd, d, n);
      if (w > 0) {
        d += w;
        n -= static_cast<size_t>(w);
      } else if (errno != EINTR) {
        m_broken = true;
      }
    }
    return !m_broken;
  }
  bool broken() const { return m_broken; }
  // Ends pg_restore's input and waits for its verdict.
  const transport::CommandResult& close_and_wait() {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = -1;
    if (m_thread.joinable()) m_thread.join();
    return m_result;
  }

 private:
  int m_fd = -1;
  bool m_broken = false;
  transport::CommandResult m_result;
  std::thread m_thread;  // last: started once the members above exist
};

transport::Command dump_command(const config::Environment& env, const std::string& snapshot, bool here) {
  transport::Command c;
  c.argv = {here ? local_client_tool("pg_dump").path : "pg_dump", "-Fc", "-Z0"};
  auto args = conn_args(env);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.argv.insert(c.argv.end(), {"--exclude-schema=ferry", "--snapshot=" + snapshot, "-d", env.database.name});
  c.env = tool_env(env);
  return c;
}

std::string why(int err) { return std::strerror(err); }

}  // namespace

bool dumps_here(const config::Environment& env) {
  return env.backup->format == "custom" &&
         env.connections.at(env.backup->on).type == config::ConnectionType::Local &&
         (env.database.tools == env.backup->on || !tools_on_backup_host(env));
}

DumpOutcome dump_here(StageContext& ctx, const std::string& id, const std::string& snapshot,
                      const std::string& step_label) {
  const auto& env = ctx.env;
  const std::string& dir = env.backup->dir;
  bool here = env.database.tools == env.backup->on;
  DumpOutcome o;
  if (!transport::make_directories(dir, 0700)) {
    int err = errno;
    o.error = "cannot create backup directory " + dir + ": " + why(err);
    return o;
  }
  o.compression = "zstd";
  o.file = dir + "/" + id + ".dump.zst";
  std::optional<transport::LocalPartialFile> opened;
  try {
    opened.emplace(dir + "/." + id + ".dump.zst.partial", o.file);
  } catch (const Error& e) {
    o.error = e.what();  // a file planted at the partial name, or no right to write here
    return o;
  }
  auto& file = *opened;

  transport::Command verify;
  verify.argv = {local_client_tool("pg_restore").path, "-f", "/dev/null"};
  verify.should_stop = [] { return interrupted(); };
  VerifierPipe verifier(ctx.transports.get(env.backup->on), std::move(verify));

  std::atomic<bool> failed{false};  // ours: the file or the verifier; pg_dump is stopped then
  Sha256 sha;
  compress::ZstdDecompressor readback([&](const char* d, size_t n) {
    if (!verifier.write(d, n)) failed = true;
  });
  compress::ZstdCompressor zstd(1, 2, [&](const char* d, size_t n) {
    if (failed) return;
    if (!file.write(d, n)) {
      failed = true;
      return;
    }
    sha.update(d, n);
    readback.write(d, n);
  });

  Stopwatch sw;
  Millis last_tick{0};
  std::atomic<long long> written{0};
  auto dump = dump_command(env, snapshot, here);
  dump.should_stop = [&] { return interrupted() || failed; };  // pg_dump changes nothing: stop it at once
  dump.on_tick = [&] {
    if (sw.elapsed() - last_tick < Millis(250)) return;
    last_tick = sw.elapsed();
    ctx.reporter.step_progress(step_label, "dumping, " + format_duration(sw.elapsed()) + ", " +
                                               human_size(written) + " written");
  };
  auto& dump_at = ctx.transports.get(env.database.tools);
  std::string readback_error;  // libzstd's complaint, never expected: the bytes are our own
  auto produced = dump_at.run(dump, [&](const char* d, size_t n) {
    if (failed) return;
    try {
      zstd.write(d, n);
    } catch (const Error& e) {
      readback_error = e.what();
      failed = true;
    }
    written = file.size();
  });
  bool ours = failed;
  if (!ours && produced.ok()) {
    try {
      zstd.finish();
      readback.finish();
    } catch (const Error& e) {
      readback_error = e.what();
    }
  }
  const auto& verified = verifier.close_and_wait();
  if (file.error() != 0) {
    o.error = "writing the backup failed: " + why(file.error()) + ": is the disk full?";
  } else if (!ours && !produced.ok()) {
    std::string where = here ? "" : " on " + dump_at.describe();
    o.error = "pg_dump failed" + where + " (exit " + std::to_string(produced.exit_code) +
              "): " + error_summary(produced.err);
  } else if (!readback_error.empty() || !verified.ok() || verifier.broken()) {
    std::string why_not = readback_error.empty() ? verified.last_line() : readback_error;
    o.error = "verification failed: pg_restore could not read the dump back: " + why_not;
  }
  if (!o.error.empty()) return o;
  try {
    file.publish();
  } catch (const Error& e) {
    o.error = e.what();
    return o;
  }
  o.size = file.size();
  o.sha256 = sha.hex_digest();
  return o;
}

}  // namespace ferry::steps::detail
