#include "steps/backup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/text.hpp"
#include "db/introspect.hpp"
#include "run/interrupt.hpp"

namespace ferry::steps {

using nlohmann::json;

namespace {

// Words that run a PostgreSQL client tool where database.tools lives, as a shell command on
// backup.on's host. Only connections reachable from that host's shell are supported.
std::string tool(const config::Environment& env, const std::string& prog, const std::vector<std::string>& args,
                 bool interactive_stdin, bool here = false) {
  if (here)
    return shell_join([&] {
      std::vector<std::string> w = {prog};
      w.insert(w.end(), args.begin(), args.end());
      return w;
    }());
  const auto& tools = env.connections.at(env.database.tools);
  std::vector<std::string> words;
  if (tools.type == config::ConnectionType::Docker) {
    if (tools.docker.via != env.backup->on)
      throw Error(ErrorKind::Config,
                  env.file + ": database.tools '" + tools.name + "' runs via '" + tools.docker.via +
                      "' but backups are kept on '" + env.backup->on + "'",
                  "keep backups on the host where the tools' container runs");
    words = {tools.docker.engine, "exec"};
    if (interactive_stdin) words.push_back("-i");
    if (!tools.docker.user.empty()) words.insert(words.end(), {"-u", tools.docker.user});
    if (env.database.password) words.insert(words.end(), {"-e", "PGPASSWORD"});
    words.push_back(tools.docker.container);
  } else if (tools.name != env.backup->on) {
    throw Error(ErrorKind::Config,
                env.file + ": database.tools '" + tools.name + "' and backup.on '" + env.backup->on + "' differ",
                "run pg_dump where the backups are kept (set database.tools to the same connection)");
  }
  words.push_back(prog);
  for (const auto& a : args) words.push_back(a);
  return shell_join(words);
}

// True when pg_dump runs on backup.on's host (itself, or a container there): the whole
// pipeline runs there. Otherwise the dump streams from the tools' host into ferry's machine.
bool tools_on_backup_host(const config::Environment& env) {
  const auto& tools = env.connections.at(env.database.tools);
  return tools.name == env.backup->on ||
         (tools.type == config::ConnectionType::Docker && tools.docker.via == env.backup->on);
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
      while (n > 0 && !broken) {
        ssize_t w = write(p[1], d, n);
        if (w > 0) {
          d += w;
          n -= static_cast<size_t>(w);
        } else if (errno != EINTR) {
          broken = true;  // the consumer is gone; its result says why
        }
      }
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

std::map<std::string, std::string> tool_env(const config::Environment& env) {
  std::map<std::string, std::string> e;
  if (env.database.password) e["PGPASSWORD"] = *env.database.password;
  e["PGSSLMODE"] = env.database.sslmode;
  e["PGCONNECT_TIMEOUT"] = "10";
  return e;
}

std::string new_backup_id(const std::string& env_name) { return env_name + "-" + stamp_id(4); }

std::string human_bytes(long long n) {
  char buf[32];
  if (n < 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KB", n / 1024.0);
  else if (n < 1024LL * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MB", n / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.2f GB", n / 1073741824.0);
  return buf;
}

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

BackupMeta meta_from_json(const json& j) {
  BackupMeta m;
  m.id = j.value("id", "");
  m.environment = j.value("environment", "");
  m.time = j.value("time", "");
  m.file = j.value("file", "");
  m.format = j.value("format", "custom");
  m.compression = j.value("compression", "pg_dump");
  m.size = j.value("size", 0LL);
  m.sha256 = j.value("sha256", "");
  m.version = j.value("version", "");
  m.fingerprint = j.value("fingerprint", "");
  m.run_id = j.value("run_id", "");
  m.verified = j.value("verified", false);
  if (j.contains("database_settings") && j["database_settings"].is_array()) {
    m.database_settings.emplace();
    for (const auto& d : j["database_settings"])
      m.database_settings->push_back({d.value("role", ""), d.value("setting", "")});
  }
  const json counts = j.value("row_counts", json::object());
  for (const auto& [k, v] : counts.items()) m.row_counts[k] = v.get<long long>();
  const json ledger = j.value("ledger", json::array());
  for (const auto& r : ledger) {
    db::AppliedMigration a;
    a.version = r.value("version", "");
    a.name = r.value("name", "");
    a.checksum = r.value("checksum", "");
    if (r.contains("down_sql") && r["down_sql"].is_string()) a.down_sql = r["down_sql"].get<std::string>();
    a.applied_at = r.value("applied_at", "");
    a.duration_ms = r.value("duration_ms", 0LL);
    a.run_id = r.value("run_id", "");
    a.destroys_data = r.value("destroys_data", false);
    a.down_restores_data = r.value("down_restores_data", false);
    m.ledger.push_back(a);
  }
  return m;
}

// The dump-verify-compress-hash pipeline. Prints "FERRY_BACKUP SIZE SHA256" on success.
const char* k_custom_script = R"SH(set -u -o pipefail
umask 077
d=$1; id=$2
mkdir -p -- "$d" || { echo "cannot create backup directory $d" >&2; exit 73; }
if command -v zstd >/dev/null 2>&1; then comp=zstd; ext=.dump.zst; else comp=pg_dump; ext=.dump; fi
f="$d/$id$ext"; t="$d/.$id$ext.partial"
trap 'rm -f -- "$t" "$t.fifo" "$t.sum" "$t.verr"' EXIT
trap 'exit 143' TERM INT HUP
: > "$t" || { echo "cannot write in backup directory $d" >&2; exit 73; }
mkfifo -- "$t.fifo" || exit 73
# The verification reads back the very bytes that go into the file (decompressing them), whole.
if [ "$comp" = zstd ]; then
  bash -c 'set -o pipefail; zstd -q -d -c | eval "$FERRY_VERIFY"' < "$t.fifo" > /dev/null 2> "$t.verr" & v=$!
  eval "$FERRY_DUMP_RAW" | zstd -q -1 -T2 -c | tee -p -- "$t" "$t.fifo" | sha256sum > "$t.sum"
else
  eval "$FERRY_VERIFY" < "$t.fifo" > /dev/null 2> "$t.verr" & v=$!
  eval "$FERRY_DUMP" | tee -p -- "$t" "$t.fifo" | sha256sum > "$t.sum"
fi
st=("${PIPESTATUS[@]}")
wait "$v"; vs=$?
if [ "${st[0]}" != 0 ]; then echo "pg_dump failed (exit ${st[0]})" >&2; exit 1; fi
for s in "${st[@]}"; do
  if [ "$s" != 0 ]; then echo "writing the backup failed (exit statuses ${st[*]}): is the disk full?" >&2; exit 1; fi
done
if [ "$vs" != 0 ]; then echo "verification failed: pg_restore could not read the dump back: $(tail -n 1 "$t.verr")" >&2; exit 1; fi
size=$(stat -c %s -- "$t")
sum=$(cut -c1-64 "$t.sum")
mv -- "$t" "$f" || exit 1
echo "FERRY_BACKUP $size $sum $comp $f"
)SH";

const char* k_directory_script = R"SH(set -u -o pipefail
umask 077
d=$1; id=$2
mkdir -p -- "$d" || { echo "cannot create backup directory $d" >&2; exit 73; }
f="$d/$id.dir"; t="$d/.$id.dir.partial"
trap 'rm -rf -- "$t"' EXIT
trap 'exit 143' TERM INT HUP
eval "$FERRY_DUMP -Fd -f \"\$t\"" || { echo "pg_dump failed: is the disk full?" >&2; exit 1; }
eval "$FERRY_VERIFY \"\$t\"" > /dev/null || { echo "verification failed: pg_restore could not read the dump back" >&2; exit 1; }
sum=$(cd "$t" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-64)
size=$(du -sb -- "$t" | cut -f1)
mv -- "$t" "$f" || exit 1
echo "FERRY_BACKUP $size $sum pg_dump $f"
)SH";

void write_remote_file(transport::Transport& t, const std::string& path, const std::string& content) {
  transport::Command c;
  c.argv = {"/bin/sh", "-c", "umask 077; cat > \"$1\"", "sh", path};
  c.stdin_data = content;
  auto r = t.run(c);
  if (!r.ok()) throw Error(ErrorKind::Command, "cannot write '" + path + "': " + r.last_line());
}

class BackupStep : public Step {
 public:
  using Step::Step;
  std::string run(StageContext& ctx) override {
    auto m = take_backup(ctx, name());
    return "verified " + m.id + " (" + human_bytes(m.size) + ", sha256 " + m.sha256.substr(0, 12) + ")";
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
  if (m.database_settings) {
    j["database_settings"] = json::array();
    for (const auto& d : *m.database_settings)
      j["database_settings"].push_back({{"role", d.role}, {"setting", d.setting}});
  }
  return j;
}

std::unique_ptr<Step> make_backup_step(const config::StepSpec& spec) { return std::make_unique<BackupStep>(spec); }

BackupMeta take_backup(StageContext& ctx, const std::string& step_label) {
  const auto& env = ctx.env;
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  const auto& spec = *env.backup;
  BackupMeta meta;
  meta.id = new_backup_id(env.name);
  meta.environment = env.name;
  meta.format = spec.format;
  meta.run_id = ctx.run_id;
  // What the backup holds, read in the SAME snapshot pg_dump dumps (pg_export_snapshot +
  // pg_dump --snapshot): the sidecar's version, ledger, fingerprint and row counts describe
  // exactly the dump, even while the application keeps writing. The counting runs on our
  // connection while pg_dump runs, so it costs no wall time.
  // No parallel workers for our counting: on a small machine they would take the CPU
  // pg_dump and the compressor need.
  ctx.db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL max_parallel_workers_per_gather = 0");
  struct EndSnapshot {
    db::Connection& db;
    ~EndSnapshot() { db.rollback_if_open(); }
  } end_snapshot{ctx.db};
  std::string snapshot = ctx.db.exec("SELECT pg_export_snapshot()").text(0, 0);
  meta.version = current_version(ctx);
  meta.ledger = ctx.ledger.applied();
  meta.database_settings = db::database_settings(ctx.db);
  std::exception_ptr count_error;
  std::thread counter([&] {
    try {
      meta.fingerprint = db::schema_fingerprint(ctx.db);
      meta.row_counts = db::row_counts(ctx.db);
    } catch (...) {
      count_error = std::current_exception();
    }
  });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join_counter{counter};

  std::vector<std::string> dump_args = conn_args(env);
  dump_args.insert(dump_args.end(), {"--exclude-schema=ferry", "--snapshot=" + snapshot, "-d", env.database.name});
  transport::Command cmd;
  cmd.env = tool_env(env);
  bool streamed = !tools_on_backup_host(env);
  transport::Command dump;  // streamed: pg_dump on the tools' connection
  if (streamed) {
    check_streamable(env);
    if (spec.format != "custom")
      throw Error(ErrorKind::Config, env.file + ": backup format 'directory' needs pg_dump on the backup host");
    dump.argv = {"pg_dump", "-Fc", "-Z0"};
    dump.argv.insert(dump.argv.end(), dump_args.begin(), dump_args.end());
    dump.env = tool_env(env);
    cmd.env = {};  // the local pipeline only reads the stream
    cmd.env["FERRY_DUMP"] = "cat";
    cmd.env["FERRY_DUMP_RAW"] = "cat";
    cmd.env["FERRY_VERIFY"] = tool(env, "pg_restore", {"-f", "/dev/null"}, true, /*here=*/true);
    cmd.argv = {"bash", "-c", k_custom_script, "ferry-backup", spec.dir, meta.id};
  } else if (spec.format == "custom") {
    dump_args.insert(dump_args.begin(), "-Fc");
    cmd.env["FERRY_DUMP"] = tool(env, "pg_dump", dump_args, false);
    cmd.env["FERRY_DUMP_RAW"] = cmd.env["FERRY_DUMP"] + " -Z0";
    cmd.env["FERRY_VERIFY"] = tool(env, "pg_restore", {"-f", "/dev/null"}, true);
    cmd.argv = {"bash", "-c", k_custom_script, "ferry-backup", spec.dir, meta.id};
  } else {
    if (env.connections.at(env.database.tools).type != config::ConnectionType::Local)
      throw Error(ErrorKind::Config,
                  env.file + ": backup format 'directory' needs database.tools on the backup host itself");
    dump_args.insert(dump_args.end(), {"-j", std::to_string(spec.jobs)});
    cmd.env["FERRY_DUMP"] = tool(env, "pg_dump", dump_args, false);
    cmd.env["FERRY_VERIFY"] = tool(env, "pg_restore", {"-f", "/dev/null"}, false);
    cmd.argv = {"bash", "-c", k_directory_script, "ferry-backup", spec.dir, meta.id};
  }
  auto& t = ctx.transports.get(spec.on);
  // Progress: the partial file's size, when it is on this machine.
  Stopwatch sw;
  Millis last_tick{0};
  std::string partial = spec.dir + "/." + meta.id + ".dump.zst.partial";
  bool local = env.connections.at(spec.on).type == config::ConnectionType::Local;
  cmd.should_stop = [] { return run::interrupted(); };  // pg_dump changes nothing: stop it at once
  cmd.on_tick = [&] {
    if (sw.elapsed() - last_tick < Millis(250)) return;
    last_tick = sw.elapsed();
    std::string p = "dumping, " + format_duration(sw.elapsed());
    struct stat st {};
    if (local && ::stat(partial.c_str(), &st) == 0) p += ", " + human_bytes(st.st_size) + " written";
    ctx.reporter.step_progress(step_label, p);
  };
  transport::CommandResult res;
  if (streamed) {
    auto& at = ctx.transports.get(env.database.tools);
    auto [produced, consumed] = pipe_through(at, dump, t, cmd);
    if (!produced.ok())
      throw Error(ErrorKind::Command, "pg_dump failed on " + at.describe() + ": " + produced.last_line());
    res = consumed;
  } else {
    res = t.run(cmd);
  }
  counter.join();
  // A signal cancels our counting statement too: say what happened, not "canceling statement".
  if (run::interrupted())
    throw Error(ErrorKind::Command, "interrupted by " + run::interrupt_name() + "; the partial backup was removed");
  if (count_error) std::rethrow_exception(count_error);
  auto line = res.out.find("FERRY_BACKUP ");
  if (!res.ok() || line == std::string::npos) {
    std::string why = res.last_line();
    throw Error(ErrorKind::Command, "backup failed on " + t.describe() + (why.empty() ? "" : ": " + why));
  }
  std::string rest = trim(res.out.substr(line + 13));
  char sum[65] = {0}, comp[16] = {0};
  long long size = 0;
  std::vector<char> path(rest.size() + 1);
  if (std::sscanf(rest.c_str(), "%lld %64s %15s %[^\n]", &size, sum, comp, path.data()) != 4)
    throw Error(ErrorKind::Internal, "unexpected backup output: " + rest);
  meta.size = size;
  meta.sha256 = sum;
  meta.compression = comp;
  meta.file = path.data();
  meta.time = now_iso8601();
  meta.verified = true;
  write_remote_file(t, spec.dir + "/" + meta.id + ".json", backup_to_json(meta, true).dump(2) + "\n");
  ctx.backup = meta;
  return meta;
}

std::vector<BackupMeta> list_backups(const config::Environment& env, Transports& transports) {
  std::vector<BackupMeta> out;
  if (!env.backup) return out;
  transport::Command c;
  c.argv = {"/bin/sh", "-c",
            "for f in \"$1\"/*.json; do [ -f \"$f\" ] && cat -- \"$f\" && printf '\\n\\036\\n'; done; exit 0", "sh",
            env.backup->dir};
  auto r = transports.get(env.backup->on).run(c);
  size_t pos = 0;
  while (pos < r.out.size()) {
    size_t sep = r.out.find("\n\036\n", pos);
    std::string doc = r.out.substr(pos, sep == std::string::npos ? std::string::npos : sep - pos);
    auto j = json::parse(doc, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("id")) out.push_back(meta_from_json(j));
    if (sep == std::string::npos) break;
    pos = sep + 3;
  }
  std::sort(out.begin(), out.end(), [](const BackupMeta& a, const BackupMeta& b) { return a.time > b.time; });
  return out;
}

int prune_backups(const config::Environment& env, Transports& transports) {
  if (!env.backup || env.backup->keep <= 0) return 0;
  auto all = list_backups(env, transports);
  int removed = 0;
  int kept = 0;
  for (const auto& b : all) {
    if (!b.verified) continue;
    if (++kept <= env.backup->keep) continue;
    transport::Command c;
    c.argv = {"/bin/sh", "-c", "rm -rf -- \"$1\" \"$2\"", "sh", b.file, env.backup->dir + "/" + b.id + ".json"};
    if (transports.get(env.backup->on).run(c).ok()) ++removed;
  }
  return removed;
}

std::string manual_restore_command(const config::Environment& env, const BackupMeta& meta) {
  std::vector<std::string> args = conn_args(env);
  args.pop_back();  // a human may be prompted for the password
  args.insert(args.end(), {"--clean", "--if-exists", "--single-transaction", "-d", env.database.name});
  std::string restore = shell_join(args);
  if (meta.compression == "zstd") return "zstd -dc " + shell_quote(meta.file) + " | pg_restore " + restore;
  return "pg_restore " + restore + " " + shell_quote(meta.file);
}

void restore_backup(StageContext& ctx, const BackupMeta& meta) {
  const auto& env = ctx.env;
  if (!env.backup) throw Error(ErrorKind::Config, env.file + ": no 'backup:' section");
  // Before: drop every user schema (public is recreated empty), so objects created after
  // the backup are gone. After: the ledger as it was at backup time.
  // One transaction cannot use pg_restore -j; parallel index builds and a large
  // maintenance_work_mem win most of that back.
  std::string pre =
      "SET lock_timeout = '60s';\nSET maintenance_work_mem = '512MB';\nSET max_parallel_maintenance_workers = 2;\n"
      "SET synchronous_commit = off;\n";
  auto schemas = ctx.db.exec(
      "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'ferry') "
      "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%' ORDER BY 1");
  for (int i = 0; i < schemas.rows(); ++i) pre += "DROP SCHEMA " + db::quote_ident(schemas.text(i, 0)) + " CASCADE;\n";
  pre += "CREATE SCHEMA public;\nGRANT USAGE ON SCHEMA public TO PUBLIC;\n";
  pre += "ALTER SCHEMA public OWNER TO pg_database_owner;\n";
  pre += "COMMENT ON SCHEMA public IS 'standard public schema';\n";  // the dump names it only when it differs
  std::string post = "SELECT pg_catalog.set_config('search_path', 'public', false);\n";
  post += "CREATE TEMP TABLE ferry_restored_ledger (LIKE ferry.migrations);\n";
  for (const auto& m : meta.ledger) {
    post +=
        "INSERT INTO ferry_restored_ledger (version, name, checksum, down_sql, applied_at, duration_ms, run_id, "
        "destroys_data, down_restores_data) VALUES (" +
        db::quote_literal(m.version) + ", " + db::quote_literal(m.name) + ", " + db::quote_literal(m.checksum) + ", " +
        (m.down_sql ? db::quote_literal(*m.down_sql) : "NULL") + ", " +
        (m.applied_at.empty() ? "now()" : db::quote_literal(m.applied_at)) + ", " + std::to_string(m.duration_ms) +
        ", " + db::quote_literal(m.run_id) + ", " + (m.destroys_data ? "true" : "false") + ", " +
        (m.down_restores_data ? "true" : "false") + ");\n";
  }
  std::string rid = db::quote_literal(ctx.run_id);
  post +=
      "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'reverted', " + rid +
      " FROM ferry.migrations m WHERE NOT EXISTS (SELECT 1 FROM ferry_restored_ledger r WHERE r.version = m.version);\n"
      "DELETE FROM ferry.migrations m WHERE NOT EXISTS (SELECT 1 FROM ferry_restored_ledger r WHERE r.version = "
      "m.version);\n"
      "INSERT INTO ferry.history (version, name, action, run_id) SELECT version, name, 'restored', " +
      rid +
      " FROM ferry_restored_ledger r WHERE NOT EXISTS (SELECT 1 FROM ferry.migrations m WHERE m.version = r.version);\n"
      "INSERT INTO ferry.migrations SELECT * FROM ferry_restored_ledger r WHERE NOT EXISTS (SELECT 1 FROM "
      "ferry.migrations m WHERE m.version = r.version);\n";
  // Last: a restored setting (search_path, statement_timeout...) must not affect the lines above.
  if (meta.database_settings) post += db::database_settings_sql(env.database.name, *meta.database_settings);

  std::vector<std::string> psql_args = conn_args(env);
  psql_args.insert(psql_args.end(),
                   {"-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", env.database.name, "-f", "-"});
  bool streamed = !tools_on_backup_host(env);
  if (streamed) check_streamable(env);
  transport::Command cmd;
  cmd.env = streamed ? std::map<std::string, std::string>{} : tool_env(env);
  cmd.env["FERRY_PRE_SQL"] = pre;
  cmd.env["FERRY_POST_SQL"] = post;
  // Streamed: this machine turns the dump into SQL and psql runs where the tools are.
  cmd.env["FERRY_PSQL"] = streamed ? "cat" : tool(env, "psql", psql_args, true);
  std::string script =
      "set -u -o pipefail\nf=$1\n[ -e \"$f\" ] || { echo \"backup file $f is missing\" >&2; exit 66; }\n";
  if (meta.format == "directory") {
    cmd.env["FERRY_TO_SQL"] = tool(env, "pg_restore", {"-f", "-"}, false) + " \"$f\"";
    script +=
        "{ printf '%s\\n' \"$FERRY_PRE_SQL\"; eval \"$FERRY_TO_SQL\"; printf '%s\\n' \"$FERRY_POST_SQL\"; } | eval "
        "\"$FERRY_PSQL\"\n";
  } else {
    cmd.env["FERRY_TO_SQL"] = tool(env, "pg_restore", {"-f", "-"}, true, streamed);
    std::string cat = meta.compression == "zstd" ? "zstd -dc -- \"$f\"" : "cat -- \"$f\"";
    script += "{ printf '%s\\n' \"$FERRY_PRE_SQL\"; " + cat +
              " | eval \"$FERRY_TO_SQL\"; printf '%s\\n' \"$FERRY_POST_SQL\"; } | eval \"$FERRY_PSQL\"\n";
  }
  // Verify the file is the one we wrote before trusting it.
  std::string check =
      "sum=$(" +
      std::string(meta.format == "directory" ? "cd \"$f\" && find . -type f | LC_ALL=C sort | xargs cat | sha256sum"
                                             : "sha256sum -- \"$f\"") +
      " | cut -c1-64); [ \"$sum\" = \"$2\" ] || { echo \"backup file $f does not match its sha256 (found $sum)\" >&2; "
      "exit 65; }\n";
  script = script.substr(0, script.find("\n", script.find("exit 66")) + 1) + check +
           script.substr(script.find("\n", script.find("exit 66")) + 1);
  cmd.argv = {"bash", "-c", script, "ferry-restore", meta.file, meta.sha256};
  auto& t = ctx.transports.get(env.backup->on);
  run::set_cancel_target(nullptr);  // a signal must not cancel the restore half-way
  transport::CommandResult res;
  if (streamed) {
    transport::Command psql;
    psql.argv = {"psql"};
    psql.argv.insert(psql.argv.end(), psql_args.begin(), psql_args.end());
    psql.env = tool_env(env);
    auto& at = ctx.transports.get(env.database.tools);
    auto [produced, consumed] = pipe_through(t, cmd, at, psql);
    res = !produced.ok() ? produced : consumed;
  } else {
    res = t.run(cmd);
  }
  run::set_cancel_target(&ctx.db);
  if (!res.ok())
    throw Error(ErrorKind::Command, "restore of " + meta.id + " failed on " + t.describe() + ": " + res.last_line());
}

}  // namespace ferry::steps
