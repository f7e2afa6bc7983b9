#include "steps/restore_parallel.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <thread>

#include "core/fd_io.hpp"
#include "log/log.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"
#include "steps/database_copy.hpp"
#include "steps/progress.hpp"
#include "steps/restore_unpack.hpp"
#include "steps/restore_window.hpp"

namespace ferry::steps::detail {

void PhaseClock::done(const std::string& phase) {
  log::debug("swap restore: " + phase + " " + std::to_string((m_sw.elapsed() - m_last).count()) + " ms");
  m_last = m_sw.elapsed();
}

namespace {

constexpr Millis k_poll_every{1000};  // the copy's size, relations and ready tables: at most once a second

// pg_restore -j needs a seekable file: a zstd backup on another host (or on a filesystem without
// O_TMPFILE; on this machine ferry does it itself, restore_unpack.*) is decompressed next to
// itself (removed at exit), hashed in the same read; its sha256 ($2) is checked before anything is restored. When
// the decompression fails, the whole file is hashed: a damaged file (exit 65) is told apart from
// a failure here (a full disk: exit 1, with zstd's words). The hash: OpenSSL's where installed
// (a third of coreutils' CPU; bench/README.md), else sha256sum.
const char* k_unpack_zstd =
    R"SH([ -L "$f" ] && { echo "backup file $f is a symbolic link; ferry restores only what is in backup.dir" >&2; exit 65; }
[ -e "$f" ] || { echo "backup file $f is missing" >&2; exit 66; }
t=$(mktemp -p "$(dirname -- "$f")" .ferry-restore.XXXXXX) || exit 73
trap 'rm -f -- "$t" "$t.fifo" "$t.sum"' EXIT
mkfifo -- "$t.fifo" || exit 73
hash=sha256sum; command -v openssl >/dev/null 2>&1 && hash='openssl dgst -sha256 -r'
$hash < "$t.fifo" > "$t.sum" & h=$!
if ! err=$(tee -- "$t.fifo" < "$f" | zstd -q -dc 2>&1 > "$t"); then
  wait "$h"; rm -f -- "$t"
  sum=$(sha256sum < "$f" | cut -c1-64)
  [ "$sum" = "$2" ] || { echo "backup file $f is damaged: it does not match its sha256 (found $sum)" >&2; exit 65; }
  echo "cannot decompress $f next to it (is the disk full?): $(printf '%s' "$err" | tr '\n' ' ' | cut -c1-300)" >&2; exit 1
fi
wait "$h"
sum=$(cut -c1-64 "$t.sum"); [ "$sum" = "$2" ] || { echo "backup file $f does not match its sha256 (found $sum)" >&2; exit 65; }
echo FERRY_UNPACKED
src=$t
)SH";

// After the file is checked: waits for ferry's "go" on stdin (the copy created; EOF: ferry gone or
// the copy not made, exit 75), then pg_restore -j (no -v: progress is polled from the copy).
// With a job per CPU, an index build's parallel workers would only compete with the other jobs:
// none (bench/README.md: 0.3-0.9 s less on 2 cores).
// stdin stays open while ferry lives: its EOF, ferry gone, ends pg_restore and this script (its
// process group), the EXIT trap removing the decompressed file.
const char* k_restore = R"SH(exec 3<&0
IFS= read -r go <&3 && [ "$go" = go ] || exit 75
c=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
j=${FERRY_RESTORE_JOBS:-$c}
[ "$j" -ge "$c" ] && export PGOPTIONS="${PGOPTIONS:-} -c max_parallel_maintenance_workers=0"
echo "FERRY_JOBS $j (of $c CPUs)"
trap 'exit 143' TERM
eval "$FERRY_PG_RESTORE -j \"\$j\" \"\$src\"" & p=$!
( while IFS= read -r _; do :; done; kill -TERM 0 ) <&3 >/dev/null 2>&1 & w=$!
wait "$p"; rc=$?
kill "$w" 2>/dev/null
exit "$rc"
)SH";

// CREATE DATABASE and the copy's properties on `m`, on a thread of its own, then "go" (or, when
// they failed, EOF) to the restore script's stdin.
class CopySetup {
 public:
  CopySetup(db::Connection& m, const std::string& original, const std::string& scratch, int go_fd)
      : m_go_fd(go_fd), m_thread([this, &m, original, scratch] { run(m, original, scratch); }) {}
  ~CopySetup() {
    if (m_thread.joinable()) m_thread.join();
    if (m_go_fd >= 0) ::close(m_go_fd);
  }
  bool done() const { return m_done.load(); }
  // Waits for the thread, whatever it did (a failure of the file comes first).
  void wait() {
    if (m_thread.joinable()) m_thread.join();
  }
  // Waits for the thread; rethrows its failure as RestoreNotApplied.
  void finish() {
    if (m_thread.joinable()) m_thread.join();
    if (!m_error.empty())
      throw RestoreNotApplied(ErrorKind::Command,
                              "cannot create the database to restore into: " + m_error + "; the database is as it was");
  }

 private:
  void run(db::Connection& m, const std::string& original, const std::string& scratch) {
    try {
      Stopwatch sw;
      m.exec(create_like_sql(m, original, scratch));
      m.exec(properties_like_sql(m, original, scratch));
      log::debug("swap restore: CREATE DATABASE beside the decompression " + std::to_string(sw.elapsed().count()) +
                 " ms");
      swap_test_pause("swap:created");
      if (::write(m_go_fd, "go\n", 3) != 3) m_error = "the restore script ended before the copy was made";
    } catch (const std::exception& e) {
      m_error = e.what();
    }
    if (!m_error.empty()) {  // EOF: the script ends without restoring
      ::close(m_go_fd);
      m_go_fd = -1;
    }
    m_done = true;
  }

  int m_go_fd;
  std::string m_error;
  std::atomic<bool> m_done{false};
  std::thread m_thread;
};

// `unpacked`: the path of the archive ferry decompressed itself (restore_unpack.*), else "" and
// the script decompresses or checks the file.
transport::Command restore_command(const config::Environment& env, const BackupMeta& meta, const std::string& scratch,
                                   const std::string& unpacked) {
  std::vector<std::string> args = conn_args(env);
  args.insert(args.end(), {"--exit-on-error", "-d", scratch});
  transport::Command cmd;
  cmd.env = tool_env(env);
  cmd.env["PGOPTIONS"] = "-c maintenance_work_mem=256MB -c synchronous_commit=off";
  cmd.env["FERRY_PG_RESTORE"] = tool(env, "pg_restore", args, false);
  if (env.backup->restore_jobs > 0) cmd.env["FERRY_RESTORE_JOBS"] = std::to_string(env.backup->restore_jobs);
  // A zstd file is hashed while it is decompressed (one read) and checked before pg_restore runs.
  std::string unpack = !unpacked.empty()              ? "src=$3\n"
                       : meta.compression == "zstd" ? k_unpack_zstd
                                                    : sha256_check_script(meta.format) + "src=$f\n";
  // A ferry gone (its pipe closed) ends the script at its next line out, its EXIT trap run.
  cmd.argv = {"bash",          "-c",      "set -u -o pipefail\numask 077\ntrap 'exit 141' PIPE\nf=$1\n" + unpack + k_restore,
              "ferry-restore", meta.file, meta.sha256};
  if (!unpacked.empty()) cmd.argv.push_back(unpacked);
  return cmd;
}

// `damaged`: the file is not what its sidecar hashed; another good backup is proposed.
[[noreturn]] void restore_failed(StageContext& ctx, const BackupMeta& meta, bool damaged, const std::string& why,
                                 const std::string& where) {
  std::string hint;
  if (damaged)  // the file does not match its sha256 (the plan did not read it twice)
    if (auto good = newest_good_backup(ctx.env, ctx.transports, meta.id))
      hint = "a good backup of " + ctx.env.name + " (its sha256 matches): " + good->id + "; restore it with `ferry " +
             "rollback " + ctx.env.name + " --backup " + good->id + "`";
  throw RestoreNotApplied(ErrorKind::Command,
                          "restore of " + meta.id + " into a new database failed on " + where + ": " + why +
                              "; the database is as it was",
                          hint);
}

[[noreturn]] void restore_failed(StageContext& ctx, const BackupMeta& meta, const transport::CommandResult& res,
                                 const std::string& where) {
  restore_failed(ctx, meta, res.exit_code == 65, error_summary(res.err), where);
}

// The archive decompressed by ferry itself when the backup is a zstd file on this machine and
// the filesystem has O_TMPFILE; nullptr: the script decompresses it.
// pg_restore must run here too (not in a container), in this PID namespace: it opens the file
// through /proc. A test can ask for the script (FERRY_TEST_RESTORE_SCRIPT=1).
std::unique_ptr<UnpackedBackup> unpacked_here(const config::Environment& env, const BackupMeta& meta) {
  using config::ConnectionType;
  if (meta.compression != "zstd" || env.connections.at(env.backup->on).type != ConnectionType::Local ||
      env.connections.at(env.database.tools).type != ConnectionType::Local)
    return nullptr;
  if (const char* s = std::getenv("FERRY_TEST_RESTORE_SCRIPT"); s && std::string(s) == "1") return nullptr;
  auto u = std::make_unique<UnpackedBackup>(meta);
  if (!u->supported()) {
    log::debug("swap restore: no unnamed file here (O_TMPFILE, /proc); the script decompresses " + meta.file);
    return nullptr;
  }
  return u;
}

}  // namespace

void create_and_restore(StageContext& ctx, const BackupMeta& meta, const std::string& scratch, db::Connection& m,
                        PhaseClock& clock, RestoreCounts& counts) {
  const auto& env = ctx.env;
  // The estimate: the database it replaces is about as big as the restored one will be.
  long long expected_bytes =
      std::stoll(m.exec_params("SELECT pg_catalog.pg_database_size($1)", {env.database.name}).text(0, 0));
  long long expected_relations = std::stoll(ctx.db.exec(k_count_relations_sql).text(0, 0));
  auto unpacked = unpacked_here(env, meta);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw RestoreNotApplied(ErrorKind::Command, "cannot make a pipe; nothing changed");
  UniqueFd go_read(fds[0]), go_write(fds[1]);  // the script's stdin, and "go" from the copy's thread
  auto cmd = restore_command(env, meta, scratch, unpacked ? unpacked->path() : "");
  CopySetup setup(m, env.database.name, scratch, go_write.release());
  Stopwatch sw;
  Millis last = -k_poll_every;  // the first tick reports at once: a short restore shows a line too
  std::string jobs = "?";
  bool unpacking = unpacked != nullptr;  // ferry's own decompression under way
  cmd.on_tick = [&] {
    if (sw.elapsed() - last < k_poll_every) return;
    last = sw.elapsed();
    if (!setup.done() || unpacking) {
      ctx.reporter.step_progress("restore", "checking and decompressing " + meta.id +
                                                (setup.done() ? ", the copy created, " : ", creating the copy, ") +
                                                format_duration(sw.elapsed()) + " elapsed");
      return;
    }
    auto p = counts.poll();
    std::string rels =
        p.relations < 0 ? ""
                        : std::to_string(p.relations) + " of ~" + std::to_string(expected_relations) + " relation(s)";
    ctx.reporter.step_progress("restore", progress_text(sw.elapsed(), p.bytes, expected_bytes, rels));
  };
  auto& t = ctx.transports.get(env.backup->on);
  if (unpacked) {  // decompressed here, beside CREATE DATABASE; the script only restores
    auto failure = unpacked->unpack(cmd.on_tick);
    unpacking = false;
    if (!failure.message.empty()) {
      go_read.reset();  // the script never runs
      setup.wait();
      restore_failed(ctx, meta, failure.damaged, failure.message, t.describe());
    }
    clock.done("decompress and sha256 check");
  }
  cmd.stdin_fd = go_read.release();  // the transport owns it from here
  std::string partial;  // the script's output, line by line
  auto res = t.run(cmd, [&](const char* d, size_t n) {
    partial.append(d, n);
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = partial.substr(start, nl - start);
      if (line == "FERRY_UNPACKED") clock.done("decompress and sha256 check");
      if (line.rfind("FERRY_JOBS ", 0) == 0) {
        jobs = line.substr(11);
        clock.done("maintenance session, CREATE DATABASE (waited for after the decompression)");
      }
    }
    partial.erase(0, start);
  });
  if (!res.ok() && res.exit_code != 75) restore_failed(ctx, meta, res, t.describe());  // the file, pg_restore
  setup.finish();  // the copy not made: the script ended without restoring (75)
  if (!res.ok()) restore_failed(ctx, meta, res, t.describe());
  clock.done("pg_restore -j" + jobs);
}

}  // namespace ferry::steps::detail
