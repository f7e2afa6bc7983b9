// The project's configuration as immutable structs (SPEC sections 2 and 3). Built once by
// config/loader.cpp right after reading the YAML; nothing outside src/config sees yaml-cpp.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/duration.hpp"
#include "core/secrets.hpp"

namespace ferry::config {

// Where a value was written: "environments/dev.yaml:4:3".
struct Mark {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based
  std::string str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(col); }
};

enum class ConnectionType { Local, Ssh, Docker, Kubectl };

struct SshSpec {
  std::string host;
  int port = 22;
  std::string user;
  std::string identity;  // private key path ("" with agent)
  bool agent = false;
  std::string known_hosts = "~/.ssh/known_hosts";
  std::string host_key = "strict";  // strict | accept-new
};

struct DockerSpec {
  std::string container;
  std::string via = "local";
  std::string engine = "docker";
  std::string user;
  std::string workdir;
};

// `kubectl exec` into a pod; kubectl itself runs on ferry's machine.
struct KubectlSpec {
  std::string target;  // deployment/NAME | pod/NAME | statefulset/NAME ... (TYPE/NAME)
  std::string namespace_;
  std::string container;
  std::string context;
  std::string kubeconfig;
  std::string kubectl = "kubectl";  // the client binary (a path or a name on PATH)
  std::string workdir;              // "" = the container's own
  // While a command runs, the pod's script writes a NUL byte to stderr this often (ferry drops
  // it), so an idle stream is not cut by a proxy or the kubelet; 0: never.
  Millis keepalive{30'000};
};

struct Connection {
  std::string name;
  ConnectionType type = ConnectionType::Local;
  SshSpec ssh;
  DockerSpec docker;
  KubectlSpec kubectl;
};

struct Database {
  std::string name;
  std::string user;
  std::optional<std::string> password;  // a secret: registered in Secrets
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string tunnel;  // "" = connect directly
  std::string sslmode = "prefer";
  std::string tools = "local";
  int connect_timeout_s = 10;  // per connection attempt (database.connect_timeout)
  std::string password_file;   // the file as resolved (absolute), "" when none
  // A fleet (config/fleet.hpp): many databases of this server, every other key the same for
  // each. `names` (written, or names_file's lines once resolved) or `discover` (SQL run on the
  // server, connected to `name`, else `postgres`) lists them; `name` is then only where
  // discovery connects.
  std::vector<std::string> names;
  std::string names_file;  // resolved (absolute), "" when none
  std::string discover;    // "" when none
  bool fleet() const { return !names.empty() || !names_file.empty() || !discover.empty(); }
};

// Where restore drills run (`backup.drill`): another PostgreSQL server, reached from where
// `database.tools` runs; nullopt in BackupSpec = the environment's own server.
struct DrillSpec {
  std::string host;
  int port = 5432;
  std::string user;
  std::optional<std::string> password;  // a secret: registered in Secrets
  std::string password_file;            // resolved (absolute), "" when none
  std::string name_prefix = "ferry_drill";
  Mark mark;
};

struct BackupSpec {
  std::string on = "local";
  std::string dir;
  std::string format = "custom";  // custom | directory
  int jobs = 1;
  int keep = 0;       // 0 = keep every backup
  int keep_days = 0;  // 0 = no age rule; with keep, a backup goes only when beyond both
  // transaction: one transaction in the database itself; swap: pg_restore -j restore_jobs into a
  // new database, proven, then swapped in by name (falls back to transaction when impossible).
  std::string restore = "transaction";
  int restore_jobs = 0;  // 0: the CPUs of the host that runs pg_restore (asked there)
  // How long a restore: transaction waits for a lock another session holds before it gives up,
  // changing nothing (PostgreSQL's lock_timeout in the restore's transaction). At least 1 s:
  // PostgreSQL's 0 (wait forever) would leave an on-call engineer staring at nothing.
  Millis restore_lock_timeout{60'000};
  std::optional<DrillSpec> drill;
};

struct HealthSpec {
  std::string url;
  std::string via;  // "" = from ferry's machine
  int expect_status = 200;
  std::string expect_body;
  Millis timeout{60'000};
  Millis interval{2'000};
  std::map<std::string, std::string> headers;  // sent with each probe; values may be ${secret:VAR}
};

struct Service {
  std::string name;
  std::string on = "local";
  std::string restart;  // shell text; its ${VAR} references are expanded by the shell from restart_env
  std::map<std::string, std::string> restart_env;
  std::string version;  // prints the deployed code version; read before the stage's first step
  std::map<std::string, std::string> version_env;
  std::string rollback;  // undoes a restart: runs with FERRY_PREVIOUS_VERSION (the version read)
  std::map<std::string, std::string> rollback_env;
  std::optional<HealthSpec> health;
  Millis restart_timeout{120'000};
};

// A webhook told of a stage's outcome (`notify:` in an environment or a playbook).
struct Webhook {
  std::string url;                            // http:// or https://
  std::vector<std::string> on = {"failure"};  // outcomes; "failure" = any but succeeded
  Millis timeout{10'000};                     // the whole budget, every retry included
  int retries = 2;
  std::map<std::string, std::string> headers;  // values may be ${secret:VAR}
  Mark mark;
};

struct Environment {
  std::string name;
  std::string file;
  std::string description;
  bool is_protected = false;
  std::vector<std::string> requires_envs;
  std::map<std::string, Connection> connections;  // always holds "local"
  Database database;
  std::optional<BackupSpec> backup;
  std::map<std::string, Service> services;
  // The first ${VAR} or password_file left unresolved because the command does not act on this
  // environment ("FILE:LINE:COL: ..."); "" when everything is resolved. Project::environment()
  // throws it as a configuration error.
  std::string unresolved;
  bool resolved = true;  // false: read for its shape only (see load_project's resolve_only)
  std::vector<Webhook> notify;
};

enum class StepKind { Backup, Migrate, Verify, Restart, Health, Run, Sql };
const char* step_kind_name(StepKind k);

struct ColumnCheck {
  std::string table;  // may be schema-qualified: "public.tasks"
  std::string column;
  std::string type;  // "" = any type
};

// `migrate: {lock_trace: ...}`: where native migrations run statement by statement with a lock trace
enum class LockTraceMode { Auto, Always, Never };

struct StepSpec {
  StepKind kind = StepKind::Run;
  std::optional<Millis> timeout;
  // migrate
  bool transaction_each = false;
  Millis lock_timeout{5'000};
  int lock_retries = 0;           // a migration that hit lock_timeout (55P03) is tried again this many times
  Millis lock_retry_max{30'000};  // ceiling of the backoff between those attempts (from 1 s, doubling)
  LockTraceMode lock_trace = LockTraceMode::Auto;  // auto: on environments that are not protected
  // lint2: the preflight flags transactions older than max_age holding or waiting for locks on the
  // migrated tables, and replicas whose replay_lag exceeds max_lag
  Millis preflight_max_age{300'000};
  Millis preflight_max_lag{60'000};
  // verify
  std::vector<ColumnCheck> columns;
  std::vector<ColumnCheck> absent_columns;
  bool row_counts_all = false;
  std::vector<std::string> row_count_tables;
  std::vector<std::string> assertions;
  // restart, health
  std::string service;
  // run
  std::string on = "local";
  std::string command;  // shell text; its ${VAR} references are expanded by the shell from env
  std::map<std::string, std::string> env;
  // sql
  std::string sql;

  std::string label() const;  // "migrate", "restart backend", "sql ANALYZE tasks"
};

enum class Driver { Native, Alembic };

struct MigrationsSource {
  Driver driver = Driver::Native;
  std::string dir = "migrations";   // native: relative to the project root
  std::string on = "local";         // alembic
  std::string command = "alembic";  // alembic: shell words, ${VAR} expanded by the shell from env
  std::map<std::string, std::string> env;
};

// `K` databases or `P%` of the fleet (config/fleet.cpp: of()).
struct Share {
  int count = 0;
  bool percent = false;
};

// A playbook's `fleet:` block: how a stage whose environment is a fleet runs its databases.
struct FleetSpec {
  int parallel = 1;
  Share canary;                // run first, alone; nothing else starts unless all succeed
  std::optional<Share> batch;  // waves after the canary; nullopt = all remaining at once
  Share max_failures;          // the failure budget
  bool revert = false;         // on_budget_spent: revert (else stop)
};

enum class OnFailure { Rollback, Stop };
enum class RollbackMethod { Auto, Down, Restore };

struct Playbook {
  std::string name;
  std::string file;
  std::string description;
  MigrationsSource migrations;
  std::vector<std::string> stages;
  std::vector<StepSpec> steps;
  OnFailure on_failure = OnFailure::Rollback;
  RollbackMethod rollback = RollbackMethod::Auto;
  std::vector<Webhook> notify;
  // Hooks (`run` steps): after a stage that did not succeed (once its rollback is done), and
  // after every stage. They never change the stage's outcome (run/hooks.*).
  std::vector<StepSpec> on_failure_hooks;
  std::vector<StepSpec> finally_hooks;
  FleetSpec fleet;  // defaults (parallel 1, budget 0) when the playbook has no `fleet:`
};

// Everything under a project root: its environments (all of environments/*.yaml) and the
// secrets collected while reading them.
struct Project {
  std::string root;
  std::map<std::string, Environment> environments;
  // Grows while playbooks are read (their ${secret:VAR} values); everything else in a Project
  // is fixed once loaded.
  mutable Secrets secrets;

  const Environment& environment(const std::string& name) const;  // throws Error(Config)
};

}  // namespace ferry::config
