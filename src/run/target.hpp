// Connecting to an environment's database and reading its state (used by run, plan, status).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/ledger.hpp"
#include "db/pg.hpp"
#include "migrate/migration_set.hpp"
#include "steps/context.hpp"
#include "transport/ssh.hpp"

namespace ferry::run {

// A database connection, direct or through a tunnel (ssh or kubectl port-forward: database.tunnel). Members are
// destroyed in reverse order: the connection, then the tunnel, then transports it owns.
struct DbLink {
  std::unique_ptr<steps::Transports> own_transports;
  std::unique_ptr<transport::Tunnel> tunnel;
  std::unique_ptr<db::Connection> conn;
};
// Connects to env's database; uses `transports` for the tunnel's SSH session when given.
DbLink connect(const config::Environment& env, steps::Transports* transports = nullptr);
std::string target_description(const config::Environment& env);

// The native migrations the playbook points at (or migrations/ for status).
std::vector<migrate::Migration> load_playbook_migrations(const config::Project& project,
                                                         const config::MigrationsSource& src);

// Gate of SPEC section 7: what `pending` lacks in each required environment. Empty = open.
std::vector<std::string> check_gate(const config::Project& project, const config::Environment& env,
                                    const std::vector<migrate::Migration>& pending);

// Gate for the Alembic driver: every revision the stage would apply (`pending`) must be reached
// in each required environment, by a succeeded ferry run. One line per revision missing.
std::vector<std::string> check_alembic_gate(const config::Project& project, const config::Environment& env,
                                            const std::vector<migrate::AlembicRevision>& chain,
                                            const std::vector<migrate::AlembicRevision>& pending);

// The Alembic settings of the first playbook that stages `env` with the Alembic driver, if any
// (how `rollback --to` and `status` know an environment is managed by Alembic).
std::optional<config::MigrationsSource> alembic_source(const config::Project& project, const std::string& env);

// Writes a run's outcome to ferry.runs; when ferry's own session is gone, over a new
// connection. False, after a warning, when it could not.
bool record_run_outcome(steps::StageContext& ctx, const std::string& outcome, const std::string& error,
                        const std::string& backup_id);

// No-transaction migrations cut off between their first statement and their ledger row (see
// Ledger::mark_applying): one line each. Empty = none.
std::vector<std::string> interrupted_migrations(db::Ledger& ledger);
// What a human must do about them.
std::string interrupted_hint(const config::Environment& env);

// Rollback method a stage would use for these pending migrations, and why.
struct RollbackChoice {
  std::string method;  // "down SQL" | "restore backup" | "none"
  std::string reason;
};
RollbackChoice choose_rollback(const config::Playbook& pb, const std::vector<migrate::Migration>& pending);

}  // namespace ferry::run
