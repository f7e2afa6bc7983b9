// The findings of the migrations a target has pending, native or Alembic, with levels scaled by
// the target's table sizes: what `ferry lint`, `ferry plan` and the run's preflight share.
#pragma once
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/pg.hpp"
#include "migrate/lint/lint.hpp"
#include "migrate/migration_set.hpp"
#include "transport/transport.hpp"

namespace ferry::migrate::lint {

// One migration (a native directory or an Alembic revision) and what was found in it.
struct Linted {
  std::string id;    // "0002_x" | "b2"
  std::string file;  // "migrations/0002_x/up.sql" | the revision's script
  std::vector<Finding> findings;
};

// lock_timeout the migrate step of `pb` sets (the step's default when it has none).
long long migrate_lock_timeout_ms(const config::Playbook* pb);

// Native migrations in order; with `conn`, levels scaled by the sizes read there.
std::vector<Linted> lint_native(const std::vector<const Migration*>& pending, long long lock_timeout_ms,
                                db::Connection* conn, const Thresholds& t);
std::vector<Linted> lint_native(const std::vector<Migration>& pending, long long lock_timeout_ms, db::Connection* conn,
                                const Thresholds& t);

// Alembic: the SQL `alembic upgrade CURRENT:head --sql` generates on `t` ("" = from base), split
// per revision; findings carry the revision's script and the line within the generated SQL
// ("versions/b2_x.py [b2, alembic --sql]:5:1"). ferry sets no lock_timeout for Alembic.
std::vector<Linted> lint_alembic(transport::Transport& t, const config::MigrationsSource& src,
                                 const std::string& current, db::Connection* conn, const Thresholds& th);

// Levels of findings linted without a connection, scaled by the sizes read on `conn` (read under a
// 1 s lock_timeout: a table that cannot be read counts as large).
void scale_linted(std::vector<Linted>& linted, db::Connection& conn, const Thresholds& t);

// The tables the findings name (for the preflight's lock checks).
std::vector<std::string> finding_tables(const std::vector<Linted>& linted);

}  // namespace ferry::migrate::lint
