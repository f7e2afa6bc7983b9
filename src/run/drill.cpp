#include "run/drill.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.hpp"
#include "db/ledger.hpp"
#include "db/pg.hpp"
#include "report/reporter.hpp"
#include "core/interrupt.hpp"
#include "run/proof.hpp"
#include "run/target.hpp"
#include "steps/backup.hpp"
#include "steps/backup_internal.hpp"

namespace ferry::run {

namespace {

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// PREFIX_<ENV>_<8 random hex digits> (PREFIX: backup.drill.name_prefix, default ferry_drill),
// within PostgreSQL's 63 bytes.
std::string scratch_name(const config::Environment& env) {
  std::random_device rd;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(rd()));
  std::string prefix = env.backup && env.backup->drill ? env.backup->drill->name_prefix : "ferry_drill";
  return prefix + "_" + env.name.substr(0, 32) + "_" + hex;
}

// The environment as the drill sees it: on backup.drill's server when there is one (reached
// directly, with the drill's own user and password, never the environment's), else its own.
config::Environment drill_server(const config::Environment& env) {
  config::Environment out = env;
  if (!env.backup || !env.backup->drill) return out;
  const auto& d = *env.backup->drill;
  out.database.host = d.host;
  out.database.port = d.port;
  if (!d.user.empty()) out.database.user = d.user;
  out.database.password = d.password;
  out.database.password_file = d.password_file;
  out.database.tunnel.clear();
  out.database.name = "postgres";  // the admin session's database there; the scratch one replaces it
  return out;
}

// Drops the scratch database when it goes out of scope: after a proof, a failure or a signal.
class ScratchDatabase {
 public:
  ScratchDatabase(db::Connection& admin, std::string name) : m_admin(admin), m_name(std::move(name)) {
    m_admin.exec("CREATE DATABASE " + db::quote_ident(m_name) + " TEMPLATE template0");
  }
  ~ScratchDatabase() {
    try {
      m_admin.exec("DROP DATABASE IF EXISTS " + db::quote_ident(m_name) + " WITH (FORCE)");
    } catch (const std::exception&) {
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

 private:
  db::Connection& m_admin;
  std::string m_name;
};

void check_createdb(db::Connection& admin) {
  auto r = admin.exec(
      "SELECT current_user, rolcreatedb OR rolsuper FROM pg_catalog.pg_roles WHERE rolname "
      "OPERATOR(pg_catalog.=) current_user");
  if (r.rows() == 1 && r.text(0, 1) == "t") return;
  throw Error(ErrorKind::Command, "a restore drill needs CREATEDB: role '" + (r.rows() ? r.text(0, 0) : "?") +
                                      "' may not create the scratch database (ALTER ROLE ... CREATEDB)");
}

// Restores into the scratch database and proves it; returns what failed, or "".
std::string restore_and_prove(const config::Project& project, const config::Environment& scratch_env,
                              steps::Transports& t, const steps::BackupMeta& meta, DrillResult& r) {
  auto link = connect(scratch_env, &t);
  db::Ledger ledger(*link.conn);
  ledger.ensure_schema();  // the dump leaves ferry's schema out; the restore sets its ledger
  config::Playbook none;
  report::Fanout quiet(project.secrets);
  steps::StageContext ctx(project, none, scratch_env, *link.conn, ledger, quiet, t, "drill-" + r.scratch, "");
  set_cancel_target(link.conn.get());
  auto start = std::chrono::steady_clock::now();
  try {
    steps::restore_backup(ctx, meta);
  } catch (const Error& e) {
    set_cancel_target(nullptr);
    return e.what();
  }
  r.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  if (interrupted()) {
    set_cancel_target(nullptr);
    return "interrupted by " + interrupt_name();
  }
  steps::Baseline base;
  base.fingerprint = meta.fingerprint;
  base.row_counts = meta.row_counts;
  std::string diff = compare_with_baseline(*link.conn, base);
  set_cancel_target(nullptr);
  return diff.empty() ? "" : "the restored copy differs from the backup's sidecar: " + diff;
}

}  // namespace

std::string check_backup_readable(const config::Environment& env, steps::Transports& t, const steps::BackupMeta& meta) {
  using namespace steps::detail;
  bool streamed = !tools_on_backup_host(env);
  transport::Command c;
  c.env = streamed ? std::map<std::string, std::string>{} : tool_env(env);
  std::string list;
  if (meta.format == "directory") {
    c.env["FERRY_LIST"] = tool(env, "pg_restore", {"-l"}, false) + " \"$f\"";
    list = "eval \"$FERRY_LIST\" >/dev/null\n";
  } else {  // pg_restore -l stops after the TOC: the rest is drained, not a SIGPIPE
    c.env["FERRY_LIST"] = tool(env, "pg_restore", {"-l"}, true, streamed);
    list = std::string(meta.compression == "zstd" ? "zstd -dc -- \"$f\"" : "cat -- \"$f\"") +
           " | { eval \"$FERRY_LIST\" >/dev/null; s=$?; cat >/dev/null; exit $s; }\n";
  }
  c.argv = {"bash",         "-c",      "set -u -o pipefail\nf=$1\n" + sha256_check_script(meta.format) + list,
            "ferry-verify", meta.file, meta.sha256};
  auto res = t.get(env.backup->on).run(c);
  if (res.ok()) return "";
  std::string why = res.last_line();
  return why.empty() ? "pg_restore -l failed (exit " + std::to_string(res.exit_code) + ")" : why;
}

DrillResult restore_drill(const config::Project& project, const config::Environment& env, steps::Transports& t,
                          const steps::BackupMeta& meta) {
  DrillResult r;
  r.time = utc_now();
  std::string bad = steps::check_backup_file(env, t, meta);
  if (!bad.empty()) {
    r.why = bad;
    return r;
  }
  config::Environment scratch_env = drill_server(env);
  auto admin = connect(scratch_env, &t);
  check_createdb(*admin.conn);
  r.scratch = scratch_name(env);
  r.server = scratch_env.database.host + ":" + std::to_string(scratch_env.database.port);
  scratch_env.database.name = r.scratch;
  {
    ScratchDatabase scratch(*admin.conn, r.scratch);
    try {
      r.why = restore_and_prove(project, scratch_env, t, meta, r);
    } catch (const Error& e) {
      r.why = e.what();
    }
  }
  // A stop cancels the running statement: the server's "canceling statement" is its effect, the
  // stop its cause, named first.
  if (interrupted() && r.why.rfind("interrupted by ", 0) != 0)
    r.why = "interrupted by " + interrupt_name() + (r.why.empty() ? "" : " (" + r.why + ")");
  r.ok = r.why.empty();
  return r;
}

void record_drill(const config::Environment& env, steps::Transports& t, const steps::BackupMeta& meta,
                  const DrillResult& r) {
  auto& on = t.get(env.backup->on);
  std::string path = env.backup->dir + "/" + meta.id + ".json";
  transport::Command read;
  read.argv = {"cat", "--", path};
  auto got = on.run(read);
  if (!got.ok()) throw Error(ErrorKind::Command, "cannot read '" + path + "': " + got.last_line());
  auto j = nlohmann::json::parse(got.out, nullptr, false);
  if (!j.is_object()) throw Error(ErrorKind::Command, "'" + path + "' is not a JSON object");
  if (!j.contains("drills") || !j["drills"].is_array()) j["drills"] = nlohmann::json::array();
  j["drills"].push_back({{"time", r.time}, {"duration_ms", r.duration_ms}, {"ok", r.ok}, {"server", r.server}});
  transport::Command write;
  write.argv = {"/bin/sh", "-c", "umask 077; cat > \"$1.drill\" && mv -f -- \"$1.drill\" \"$1\"", "sh", path};
  write.stdin_data = j.dump(2) + "\n";
  auto w = on.run(write);
  if (!w.ok()) throw Error(ErrorKind::Command, "cannot write '" + path + "': " + w.last_line());
}

}  // namespace ferry::run
