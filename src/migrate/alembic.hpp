// The Alembic driver (SPEC 4.2): `alembic upgrade head` / `alembic downgrade REV` run where
// the application lives (a connection: local, ssh, docker); the current revision is read
// from alembic_version over ferry's database connection; the revision chain from `alembic history`.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/pg.hpp"
#include "transport/transport.hpp"

namespace ferry::migrate {

struct AlembicRevision {
  std::string id;
  std::string down;  // "" for the first
  std::string message;
};

// The revisions from base to head, in order. Throws Error(Command) when `alembic history`
// fails, Error(Config) when the history branches (ferry supports one line of revisions).
std::vector<AlembicRevision> alembic_history(transport::Transport& t, const config::MigrationsSource& src);
// alembic_version.version_num, or "" when the table is missing or empty.
std::string alembic_current(db::Connection& db);
// Revisions after `current` up to head. Throws Error(Refused) when current is not in the chain.
std::vector<AlembicRevision> alembic_pending(const std::vector<AlembicRevision>& chain, const std::string& current);
// True when `rev` is `current` or one of its ancestors.
bool alembic_reached(const std::vector<AlembicRevision>& chain, const std::string& current, const std::string& rev);

// Runs `COMMAND ARGS` (e.g. "upgrade head") there; throws Error(Command) with the lines that
// carry its error (and its whole output, bounded) when it fails.
std::string alembic_run(transport::Transport& t, const config::MigrationsSource& src, const std::string& args,
                        std::optional<Millis> timeout);

// The SQL one revision contributes to `alembic upgrade --sql` (offline mode), for `ferry lint`.
struct AlembicSql {
  std::string revision;
  std::string sql;  // preceded by blank lines so that line numbers are those of the whole output
  int line = 1;     // where its "-- Running upgrade A -> B" comment stands in the output
};
// Splits offline SQL at Alembic's "-- Running upgrade A -> B" comments (what precedes the first,
// alembic_version's creation and BEGIN, belongs to no revision and is dropped).
std::vector<AlembicSql> split_alembic_sql(const std::string& out);
// `alembic upgrade CURRENT:head --sql` ("head --sql" from base) run as alembic_run runs it, split
// per revision; `transactional` is set when the output opens a transaction (Alembic's default).
std::vector<AlembicSql> alembic_upgrade_sql(transport::Transport& t, const config::MigrationsSource& src,
                                            const std::string& current, bool& transactional);
// Revision id -> its script's path, from `alembic history --verbose`.
std::map<std::string, std::string> alembic_paths(transport::Transport& t, const config::MigrationsSource& src);

}  // namespace ferry::migrate
