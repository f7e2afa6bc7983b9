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

// Gate of SPEC section 7: what the required environments of `env` lack of `state.pending`,
// as the driver reads them there. Empty = open.
std::vector<steps::GateGap> check_gate(const config::Project& project, const config::Environment& env,
                                       steps::Driver& driver, const steps::DriverState& state);

// Writes a run's outcome to ferry.runs; when ferry's own session is gone, over a new
// connection. False, after a warning, when it could not.
bool record_run_outcome(steps::StageContext& ctx, const std::string& outcome, const std::string& error,
                        const std::string& backup_id);

// No-transaction migrations cut off between their first statement and their ledger row:
// What a human must do about them.
std::string interrupted_hint(const config::Environment& env);

}  // namespace ferry::run
