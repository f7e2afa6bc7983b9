#include "steps/backup_here.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include "compress/zstd.hpp"
#include "core/fd_io.hpp"
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
    try {
      m_thread = std::thread([this, &at, cmd = std::move(cmd)] {
        try {
          m_result = at.run(cmd);
        } catch (const std::exception& e) {
          m_result.exit_code = 127;
          m_result.err = e.what();
        }
      });
    } catch (...) {
      ::close(p[0]);
      ::close(p[1]);
      throw;
    }
  }
  ~VerifierPipe() { close_and_wait(); }
  bool write(const char* d, size_t n) {
    if (!m_broken && !write_all(m_fd, d, n)) m_broken = true;
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
  auto args = dump_args(env, snapshot);
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.env = tool_env(env);
  return c;
}

std::string why(int err) { return std::strerror(err); }

bool zstd_installed() {
  static const bool installed = !transport::find_on_path("zstd").empty();
  return installed;
}

}  // namespace

bool dumps_here(const config::Environment& env) {
  return env.backup->format == "custom" &&
         env.connections.at(env.backup->on).type == config::ConnectionType::Local &&
         (env.database.tools == env.backup->on || !tools_on_backup_host(env)) && zstd_installed();
}

namespace {

// The stream's path: pg_dump's bytes -> libzstd -> the file and sha256 -> libzstd again ->
// pg_restore. The first failure of ours (the file, the compressor, the verifier's pipe) is kept
// and stops pg_dump (`failed`).
class Stream {
 public:
  Stream(transport::LocalPartialFile& file, VerifierPipe& verifier)
      : m_file(file),
        m_verifier(verifier),
        m_readback([this](const char* d, size_t n) {
          if (!m_verifier.write(d, n)) failed = true;
        }),
        m_zstd(1, 2, [this](const char* d, size_t n) { compressed(d, n); }) {}
  void write(const char* d, size_t n) {
    if (failed) return;
    try {
      m_zstd.write(d, n);
    } catch (const Error& e) {
      fail(m_compress_error, e.what());
    }
  }
  // Ends the frame and the read-back's input.
  void finish() {
    try {
      m_zstd.finish();
    } catch (const Error& e) {
      fail(m_compress_error, e.what());
    }
    if (failed) return;
    try {
      m_readback.finish();
    } catch (const Error& e) {
      fail(m_readback_error, e.what());
    }
  }
  std::string sha256() { return m_sha.hex_digest(); }
  const std::string& compress_error() const { return m_compress_error; }
  const std::string& readback_error() const { return m_readback_error; }
  std::atomic<bool> failed{false};

 private:
  void compressed(const char* d, size_t n) {
    if (failed) return;
    if (!m_file.write(d, n)) {
      failed = true;
      return;
    }
    m_sha.update(d, n);
    try {
      m_readback.write(d, n);
    } catch (const Error& e) {  // never expected: the bytes are our own
      fail(m_readback_error, e.what());
    }
  }
  void fail(std::string& slot, const std::string& what) {
    if (slot.empty()) slot = what;
    failed = true;
  }
  transport::LocalPartialFile& m_file;
  VerifierPipe& m_verifier;
  Sha256 m_sha;
  std::string m_compress_error, m_readback_error;
  compress::ZstdDecompressor m_readback;
  compress::ZstdCompressor m_zstd;  // last: its sink uses the members above
};

// What went wrong, first cause first: the file (the disk), our compressor, pg_dump (unless we
// stopped it), then the read-back. "" when the backup is whole and verified.
std::string verdict(const transport::LocalPartialFile& file, const Stream& stream,
                    const transport::CommandResult& produced, bool stopped_by_us, const std::string& dumped_at,
                    const transport::CommandResult& verified, bool pipe_broken) {
  if (file.error() != 0) {
    return "writing the backup failed: " + write_error_text(file.error());
  }
  if (!stream.compress_error().empty()) return "compressing the backup failed: " + stream.compress_error();
  if (!stopped_by_us && (!produced.ok() || produced.stopped))
    return "pg_dump failed" + dumped_at + " (exit " + std::to_string(produced.exit_code) +
           "): " + error_summary(produced.err);
  if (!stream.readback_error().empty() || !verified.ok() || pipe_broken) {
    std::string why_not = stream.readback_error();
    if (why_not.empty()) why_not = verified.last_line();
    if (why_not.empty()) why_not = "it ended with exit " + std::to_string(verified.exit_code);
    return "verification failed: pg_restore could not read the dump back: " + why_not;
  }
  return "";
}

void run_here(StageContext& ctx, const std::string& id, const std::string& snapshot,
              const std::string& step_label, DumpOutcome& o) {
  const auto& env = ctx.env;
  const std::string& dir = env.backup->dir;
  if (!transport::make_directories(dir, 0700)) {
    int err = errno;
    o.error = "cannot create backup directory " + dir + ": " + why(err);
    return;
  }
  o.compression = "zstd";
  o.file = dir + "/" + id + ".dump.zst";
  auto file = std::make_shared<transport::LocalPartialFile>(dir + "/." + id + ".dump.zst.partial", o.file);

  transport::Command verify;
  verify.argv = {local_client_tool("pg_restore").path, "-f", "/dev/null"};
  verify.should_stop = [] { return interrupted(); };
  VerifierPipe verifier(ctx.transports.get(env.backup->on), std::move(verify));
  Stream stream(*file, verifier);

  bool here = env.database.tools == env.backup->on;
  auto dump = dump_command(env, snapshot, here);
  dump.should_stop = [&] { return interrupted() || stream.failed; };  // pg_dump changes nothing: stop it at once
  Stopwatch sw;
  Millis last_tick{0};
  dump.on_tick = [&] {
    if (sw.elapsed() - last_tick < Millis(250)) return;
    last_tick = sw.elapsed();
    ctx.reporter.step_progress(step_label, "dumping, " + format_duration(sw.elapsed()) + ", " +
                                               human_size(file->size()) + " written");
  };
  auto& dump_at = ctx.transports.get(env.database.tools);
  auto produced = dump_at.run(dump, [&](const char* d, size_t n) { stream.write(d, n); });
  bool stopped_by_us = stream.failed;
  if (!stopped_by_us && produced.ok() && !produced.stopped) stream.finish();
  const auto& verified = verifier.close_and_wait();
  o.error = verdict(*file, stream, produced, stopped_by_us, here ? "" : " on " + dump_at.describe(), verified,
                    verifier.broken());
  if (!o.error.empty()) return;
  o.size = file->size();
  o.sha256 = stream.sha256();
  o.pending = std::move(file);
}

}  // namespace

DumpOutcome dump_here(StageContext& ctx, const std::string& id, const std::string& snapshot,
                      const std::string& step_label) {
  DumpOutcome o;
  try {
    run_here(ctx, id, snapshot, step_label, o);
  } catch (const std::exception& e) {  // pg_dump not found, a planted partial file, no pipe: no backup
    o.error = e.what();
    o.pending.reset();
  }
  return o;
}

}  // namespace ferry::steps::detail
