#include "steps/backup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/fd_io.hpp"
#include "core/text.hpp"
#include "db/introspect.hpp"
#include "core/interrupt.hpp"
#include "steps/backup_here.hpp"
#include "steps/backup_internal.hpp"
#include "steps/baseline.hpp"
#include "steps/backup_pins.hpp"
#include "steps/backup_tools.hpp"
#include "steps/progress.hpp"
#include "steps/write_counters.hpp"

namespace ferry::steps {

using nlohmann::json;

namespace detail {

// Words that run a PostgreSQL client tool where database.tools lives, as a shell command on
// backup.on's host: the tools' own connection builds them (docker exec, kubectl exec, ...). Only
// connections whose command line runs on that host's shell are supported.
std::string tool(const config::Environment& env, const std::string& prog, const std::vector<std::string>& args,
                 bool interactive_stdin, bool here) {
  std::vector<std::string> argv = {prog};
  argv.insert(argv.end(), args.begin(), args.end());
  if (here || env.database.tools == env.backup->on) {
    if (env.connections.at(env.backup->on).type == config::ConnectionType::Local)
      argv[0] = local_client_tool(prog).path;  // pg_wrapper's pick without its perl start
    return shell_join(argv);
  }
  transport::Transports reg(env);  // its own: building a command line never connects anywhere
  auto& tools = reg.get(env.database.tools);
  if (tools.via() != &reg.get(env.backup->on)) {
    if (tools.via())
      throw Error(ErrorKind::Config,
                  env.file + ": database.tools '" + env.database.tools + "' runs via " + tools.via()->describe() +
                      " but backups are kept on '" + env.backup->on + "'",
                  "keep backups on the host where the tools' container runs");
    throw Error(
        ErrorKind::Config,
        env.file + ": database.tools '" + env.database.tools + "' and backup.on '" + env.backup->on + "' differ",
        "run pg_dump where the backups are kept (set database.tools to the same connection)");
  }
  std::vector<std::string> names;
  if (env.database.password) names.push_back("PGPASSWORD");
  return shell_join(tools.command_line(argv, names, interactive_stdin));
}

// True when pg_dump runs on backup.on's host (itself, or a container there): the whole
// pipeline runs there. Otherwise the dump streams from the tools' host into ferry's machine.
bool tools_on_backup_host(const config::Environment& env) {
  if (env.database.tools == env.backup->on) return true;
  transport::Transports reg(env);
  return reg.get(env.database.tools).via() == &reg.get(env.backup->on);
}

void check_streamable(const config::Environment& env) {
  if (env.connections.at(env.backup->on).type != config::ConnectionType::Local)
    throw Error(
        ErrorKind::Config,
        env.file + ": pg_dump runs on '" + env.database.tools + "' but backups are kept on '" + env.backup->on + "'",
        "keep backups where pg_dump runs, or on this machine (backup.on: local), where ferry streams the dump");
}

// Runs `producer` and `consumer` joined by a pipe: producer's stdout -> consumer's stdin.
// Memory stays flat: chunks go through the pipe as they come.
std::pair<transport::CommandResult, transport::CommandResult> pipe_through(transport::Transport& producer_at,
                                                                           transport::Command producer,
                                                                           transport::Transport& consumer_at,
                                                                           transport::Command consumer) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) throw Error(ErrorKind::Internal, "pipe failed");
  consumer.stdin_fd = p[0];  // owned by the consumer's transport from here
  transport::CommandResult consumed;
  std::exception_ptr consumer_error;
  std::thread t([&] {
    try {
      consumed = consumer_at.run(consumer);
    } catch (...) {
      consumer_error = std::current_exception();
    }
  });
  bool broken = false;
  transport::CommandResult produced;
  try {
    produced = producer_at.run(producer, [&](const char* d, size_t n) {
      if (!broken && !write_all(p[1], d, n)) broken = true;  // the consumer is gone; its result says why
    });
  } catch (...) {
    close(p[1]);
    t.join();
    throw;
  }
  close(p[1]);
  t.join();
  if (consumer_error) std::rethrow_exception(consumer_error);
  return {produced, consumed};
}

std::vector<std::string> conn_args(const config::Environment& env) {
  std::vector<std::string> a = {"-h", env.database.host, "-p", std::to_string(env.database.port)};
  if (!env.database.user.empty()) a.insert(a.end(), {"-U", env.database.user});
  a.push_back("-w");  // never prompt: no TTY must ever hang a run
  return a;
}

std::vector<std::string> dump_args(const config::Environment& env, const std::string& snapshot) {
  auto a = conn_args(env);
  a.insert(a.end(), {"--exclude-schema=ferry", "--snapshot=" + snapshot, "-d", env.database.name});
  return a;
}

std::map<std::string, std::string> tool_env(const config::Environment& env) {
  std::map<std::string, std::string> e;
  if (env.database.password) e["PGPASSWORD"] = *env.database.password;
  e["PGSSLMODE"] = env.database.sslmode;
  e["PGCONNECT_TIMEOUT"] = "10";
  return e;
}

std::string error_summary(const std::string& stderr_text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < stderr_text.size()) {
    size_t nl = stderr_text.find('\n', pos);
    std::string l = trim(stderr_text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (!l.empty() && (lines.empty() || lines.back() != l)) lines.push_back(l);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  // The error is in the first lines (pg_dump: error: ...); the last says where it stopped.
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i >= 3 && i + 1 < lines.size()) continue;
    out += (out.empty() ? "" : " | ") + std::string(i >= 3 && lines.size() > 4 ? "... | " : "") + lines[i];
  }
  if (out.size() > 600) out = out.substr(0, 597) + "...";
  return out;
}

}  // namespace detail

namespace {

using namespace detail;

std::string new_backup_id(const std::string& env_name) { return env_name + "-" + stamp_id(4); }

json ledger_json(const std::vector<db::AppliedMigration>& ledger) {
  json a = json::array();
  for (const auto& m : ledger)
    a.push_back({{"version", m.version},
                 {"name", m.name},
                 {"checksum", m.checksum},
                 {"down_sql", m.down_sql ? json(*m.down_sql) : json(nullptr)},
                 {"applied_at", m.applied_at},
                 {"duration_ms", m.duration_ms},
                 {"run_id", m.run_id},
                 {"destroys_data", m.destroys_data},
                 {"down_restores_data", m.down_restores_data}});
  return a;
}

// Prints a dump tool's stderr ($1) as one bounded line: its first lines and its last.
#define FERRY_ERRS_FN                                                                                            \
  "errs() { grep -v '^[[:space:]]*$' -- \"$1\" 2>/dev/null | awk 'NR<=3{print;next}{l=$0;n=NR}END{if(n>4)print " \
  "\"...\";if(n)print l}' | tr '\\n\\t' '  ' | cut -c1-600; }\n"

// The dump-verify-compress-hash pipeline. Prints "FERRY_BACKUP SIZE SHA256" on success.
// noclobber: a file planted at a partial path (a symlink elsewhere) is never written through.
// Few processes (a fleet runs it per database): the verifier is a subshell, not a new bash;
// the hash is read with `read`, the directory made only when missing.
const char* k_custom_script = "set -u -o pipefail -o noclobber\n" FERRY_ERRS_FN R"SH(umask 077
d=$1; id=$2
[ -d "$d" ] || mkdir -p -- "$d" || { echo "cannot create backup directory $d" >&2; exit 73; }
if command -v zstd >/dev/null 2>&1; then comp=zstd; ext=.dump.zst; else comp=pg_dump; ext=.dump; fi
f="$d/$id$ext"; t="$d/.$id$ext.partial"
trap 'rm -f -- "$t" "$t.fifo" "$t.sum" "$t.verr" "$t.derr"' EXIT
trap 'exit 143' TERM INT HUP
: > "$t" || { echo "cannot write in backup directory $d" >&2; exit 73; }
mkfifo -- "$t.fifo" || exit 73
# The verification reads back the very bytes that go into the file (decompressing them), whole.
if [ "$comp" = zstd ]; then
  (set -o pipefail; zstd -q -d -c | eval "$FERRY_VERIFY") < "$t.fifo" > /dev/null 2> "$t.verr" & v=$!
  eval "$FERRY_DUMP_RAW" 2> "$t.derr" | zstd -q -1 -T2 -c | tee -p -- "$t" "$t.fifo" | sha256sum > "$t.sum"
else
  eval "$FERRY_VERIFY" < "$t.fifo" > /dev/null 2> "$t.verr" & v=$!
  eval "$FERRY_DUMP" 2> "$t.derr" | tee -p -- "$t" "$t.fifo" | sha256sum > "$t.sum"
fi
st=("${PIPESTATUS[@]}")
wait "$v"; vs=$?
if [ "${st[0]}" != 0 ]; then echo "pg_dump failed (exit ${st[0]}): $(errs "$t.derr")" >&2; exit 1; fi
for s in "${st[@]}"; do
  if [ "$s" != 0 ]; then echo "writing the backup failed (exit statuses ${st[*]}): is the disk full?" >&2; exit 1; fi
done
if [ "$vs" != 0 ]; then echo "verification failed: pg_restore could not read the dump back: $(tail -n 1 "$t.verr")" >&2; exit 1; fi
size=$(stat -c %s -- "$t")
read -r sum _ < "$t.sum"
mv -T -- "$t" "$f" || exit 1
echo "FERRY_BACKUP $size $sum $comp $f"
)SH";

const char* k_directory_script = "set -u -o pipefail -o noclobber\n" FERRY_ERRS_FN R"SH(umask 077
d=$1; id=$2
mkdir -p -- "$d" || { echo "cannot create backup directory $d" >&2; exit 73; }
f="$d/$id.dir"; t="$d/.$id.dir.partial"
trap 'rm -rf -- "$t" "$t.derr"' EXIT
trap 'exit 143' TERM INT HUP
eval "$FERRY_DUMP -Fd -f \"\$t\"" 2> "$t.derr" || { echo "pg_dump failed: $(errs "$t.derr")" >&2; exit 1; }
eval "$FERRY_VERIFY \"\$t\"" > /dev/null || { echo "verification failed: pg_restore could not read the dump back" >&2; exit 1; }
sum=$(cd "$t" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-64)
size=$(du -sb -- "$t" | cut -f1)
mv -T -- "$t" "$f" || exit 1
echo "FERRY_BACKUP $size $sum pg_dump $f"
)SH";

#undef FERRY_ERRS_FN

// A restore drops every user schema; a database.user that cannot learns it now, not at 3 a.m.
void warn_unrestorable(StageContext& ctx) {
  std::string blockers;
  try {
    blockers = restore_blockers(ctx.db);
  } catch (const Error&) {
    return;  // the backup is good; this is advice
  }
  if (blockers.empty()) return;
  std::string user = ctx.env.database.user.empty() ? "this user" : "'" + ctx.env.database.user + "'";
  ctx.reporter.message(report::Level::Warn, "ferry cannot restore this backup as " + user + ": " + blockers +
                                                "; a restore would fail and change nothing");
}

class BackupStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    auto m = take_backup(ctx, name());
    pin_pre_change_backup(ctx, m);  // automatic pin (steps/backup_pins.*)
    return "verified " + m.id + " (" + human_size(m.size) + ", sha256 " + m.sha256.substr(0, 12) + ")";
  }
};

}  // namespace

json backup_to_json(const BackupMeta& m, bool with_ledger) {
  json j = {{"id", m.id},
            {"environment", m.environment},
            {"time", m.time},
            {"file", m.file},
            {"format", m.format},
            {"compression", m.compression},
            {"size", m.size},
            {"sha256", m.sha256},
            {"version", m.version},
            {"fingerprint", m.fingerprint},
            {"row_counts", m.row_counts},
            {"run_id", m.run_id},
            {"verified", m.verified}};
  if (with_ledger) j["ledger"] = ledger_json(m.ledger);
  if (with_ledger && m.write_counters) j["write_counters"] = write_counters_json(*m.write_counters);
  if (m.database_settings) {
    j["database_settings"] = json::array();
    for (const auto& d : *m.database_settings)
      j["database_settings"].push_back({{"role", d.role}, {"setting", d.setting}});
  }
  return j;
}

std::unique_ptr<Step> make_backup_step(const config::StepSpec& spec) { return std::make_unique<BackupStep>(spec); }

namespace {

// The first facts of the sidecar, read in the snapshot pg_dump will dump: returns its name.
std::string open_snapshot(StageContext& ctx, BackupMeta& meta) {
  const auto& env = ctx.env;
  // Neither the database's statement_timeout (counting a big table) nor its
  // idle_in_transaction_session_timeout (the snapshot stays open while pg_dump runs) may cut it.
  // No parallel workers for our counting: on a small machine they would take the CPU
  // pg_dump and the compressor need.
  ctx.db.exec(
      "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL "
      "statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0");
  auto snap = ctx.db.exec("SELECT pg_catalog.pg_export_snapshot(), pg_catalog.current_setting('server_version_num')");
  if (env.database.tools == env.backup->on && env.connections.at(env.backup->on).type == config::ConnectionType::Local)
    check_client_tool(local_client_tool("pg_dump"), "pg_dump", std::stoi(snap.text(0, 1)) / 10000);
  meta.version = current_version(ctx);
  meta.ledger = ctx.ledger.applied();
  meta.database_settings = db::database_settings(ctx.db);
  meta.write_counters = read_write_counters(ctx.db);  // to estimate what a restore discards
  return snap.text(0, 0);
}

// The fingerprint and exact row counts (and the run's baseline, when it is read here: see
// steps/baseline.hpp), read on our connection in the snapshot while pg_dump runs: no wall time.
class SnapshotReader {
 public:
  SnapshotReader(StageContext& ctx, BackupMeta& meta)
      : m_ctx(ctx), m_thread([this, &ctx, &meta] { read(ctx, meta); }) {}
  ~SnapshotReader() {
    if (m_thread.joinable()) m_thread.join();
  }
  // Waits for it; the baseline goes to the run even when pg_dump failed; rethrows its error.
  void finish() {
    m_thread.join();
    if (m_baseline) m_ctx.baseline = std::move(*m_baseline);
    // A signal cancels our counting statement too: say what happened, not "canceling statement".
    if (interrupted())
      throw Error(ErrorKind::Command, "interrupted by " + interrupt_name() + "; the partial backup was removed");
    if (m_error) std::rethrow_exception(m_error);
  }

 private:
  void read(StageContext& ctx, BackupMeta& meta) {
    try {
      if (ctx.baseline.in_backup) {
        m_baseline = read_baseline(ctx.db, ctx.baseline.version);
        meta.fingerprint = m_baseline->fingerprint;  // the same bytes as schema_fingerprint
        meta.row_counts = m_baseline->row_counts;
      } else {
        meta.fingerprint = db::schema_fingerprint(ctx.db);
        meta.row_counts = db::row_counts(ctx.db);
      }
    } catch (...) {
      m_error = std::current_exception();
    }
  }
  StageContext& m_ctx;
  std::exception_ptr m_error;
  std::optional<Baseline> m_baseline;
  std::thread m_thread;  // last: started once the members above exist
};

// The script that dumps, compresses, hashes and reads back a backup kept on another host (or
// in directory format, or with pg_dump in a container): it runs on backup.on's host.
transport::Command dump_script(const config::Environment& env, const std::string& id, const std::string& snapshot) {
  const auto& spec = *env.backup;
  if (!tools_on_backup_host(env)) {
    check_streamable(env);  // a custom-format backup streamed here is dump_here's (steps/backup_here.*)
    throw Error(ErrorKind::Config, env.file + ": backup format 'directory' needs pg_dump on the backup host");
  }
  std::vector<std::string> args = dump_args(env, snapshot);
  transport::Command cmd;
  cmd.env = tool_env(env);
  if (spec.format == "custom") {
    args.insert(args.begin(), "-Fc");
    cmd.env["FERRY_DUMP"] = tool(env, "pg_dump", args, false);
    cmd.env["FERRY_DUMP_RAW"] = cmd.env["FERRY_DUMP"] + " -Z0";
    cmd.env["FERRY_VERIFY"] = tool(env, "pg_restore", {"-f", "/dev/null"}, true);
    cmd.argv = {"bash", "-c", k_custom_script, "ferry-backup", spec.dir, id};
  } else {
    if (env.connections.at(env.database.tools).type != config::ConnectionType::Local)
      throw Error(ErrorKind::Config,
                  env.file + ": backup format 'directory' needs database.tools on the backup host itself");
    args.insert(args.end(), {"-j", std::to_string(spec.jobs)});
    cmd.env["FERRY_DUMP"] = tool(env, "pg_dump", args, false);
    cmd.env["FERRY_VERIFY"] = tool(env, "pg_restore", {"-f", "/dev/null"}, false);
    cmd.argv = {"bash", "-c", k_directory_script, "ferry-backup", spec.dir, id};
  }
  return cmd;
}

// The script's last line, FERRY_BACKUP SIZE SHA256 COMPRESSION PATH, as an outcome.
DumpOutcome script_outcome(const transport::CommandResult& res) {
  DumpOutcome o;
  auto line = res.out.find("FERRY_BACKUP ");
  if (!res.ok() || line == std::string::npos) {
    o.error = res.last_line();
    if (o.error.empty()) o.error = "the backup script ended with exit " + std::to_string(res.exit_code);
    return o;
  }
  std::string rest = trim(res.out.substr(line + 13));
  char sum[65] = {0}, comp[16] = {0};
  long long size = 0;
  std::vector<char> path(rest.size() + 1);
  if (std::sscanf(rest.c_str(), "%lld %64s %15s %[^\n]", &size, sum, comp, path.data()) != 4)
    throw Error(ErrorKind::Internal, "unexpected backup output: " + rest);
  o.size = size;
  o.sha256 = sum;
  o.compression = comp;
  o.file = path.data();
  return o;
}

// Runs the script on backup.on, with progress from the partial file's size when it is here.
DumpOutcome run_script(StageContext& ctx, const std::string& id, const std::string& snapshot,
                       const std::string& step_label) {
  const auto& env = ctx.env;
  auto script = dump_script(env, id, snapshot);
  Stopwatch sw;
  Millis last_tick{0};
  std::string partial = env.backup->dir + "/." + id + ".dump.zst.partial";
  bool local = env.connections.at(env.backup->on).type == config::ConnectionType::Local;
  script.should_stop = [] { return interrupted(); };  // pg_dump changes nothing: stop it at once
  script.on_tick = [&] {
    if (sw.elapsed() - last_tick < Millis(250)) return;
    last_tick = sw.elapsed();
    std::string text = "dumping, " + format_duration(sw.elapsed());
    struct stat st {};
    if (local && ::stat(partial.c_str(), &st) == 0) text += ", " + human_size(st.st_size) + " written";
    ctx.reporter.step_progress(step_label, text);
  };
  return script_outcome(ctx.transports.get(env.backup->on).run(script));
}

}  // namespace

BackupMeta take_backup(StageContext& ctx, const std::string& step_label) {
  const auto& env = ctx.env;
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  BackupMeta meta;
  meta.id = new_backup_id(env.name);
  meta.environment = env.name;
  meta.format = env.backup->format;
  meta.run_id = ctx.run_id;
  // What the backup holds, read in the SAME snapshot pg_dump dumps (pg_export_snapshot +
  // pg_dump --snapshot): the sidecar's version, ledger, fingerprint and row counts describe
  // exactly the dump, even while the application keeps writing.
  struct EndSnapshot {
    db::Connection& db;
    ~EndSnapshot() { db.rollback_if_open(); }
  } end_snapshot{ctx.db};
  std::string snapshot = open_snapshot(ctx, meta);
  SnapshotReader reader(ctx, meta);
  auto out = dumps_here(env) ? dump_here(ctx, meta.id, snapshot, step_label)
                             : run_script(ctx, meta.id, snapshot, step_label);
  reader.finish();
  auto& t = ctx.transports.get(env.backup->on);
  if (!out.error.empty()) throw Error(ErrorKind::Command, "backup failed on " + t.describe() + ": " + out.error);
  if (out.pending) {
    try {
      out.pending->publish();
    } catch (const Error& e) {
      throw Error(ErrorKind::Command, "backup failed on " + t.describe() + ": " + e.what());
    }
  }
  meta.size = out.size;
  meta.sha256 = out.sha256;
  meta.compression = out.compression;
  meta.file = out.file;
  meta.time = now_iso8601();
  meta.verified = true;
  t.put_file(env.backup->dir + "/" + meta.id + ".json", backup_to_json(meta, true).dump(2) + "\n", 0600);
  ctx.backup = meta;
  warn_unrestorable(ctx);
  return meta;
}

}  // namespace ferry::steps
