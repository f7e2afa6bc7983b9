#include "migrate/lint/pending.hpp"

#include <set>

#include "core/error.hpp"
#include "db/sizes.hpp"
#include "log/log.hpp"
#include "migrate/alembic.hpp"

namespace ferry::migrate::lint {

namespace {
// Read without queueing behind a lock (db::relation_sizes_nowait); what cannot be read is unknown.
std::map<std::string, TableSize> read_sizes(db::Connection& conn, const std::set<std::string>& names) {
  std::map<std::string, TableSize> sizes;
  try {
    for (const auto& [name, s] : db::relation_sizes_nowait(conn, names)) sizes[name] = {s.rows, s.bytes};
  } catch (const Error& e) {
    log::warn("table sizes not read (counted as large): " + std::string(e.what()));
    sizes.clear();
  }
  return sizes;
}

void scale_all(const Linter& linter, std::vector<Linted>& out, db::Connection* conn, const Thresholds& t) {
  std::map<std::string, TableSize> sizes;
  if (conn) sizes = read_sizes(*conn, linter.tables());
  for (auto& l : out) scale(l.findings, sizes, t);
}
}  // namespace

void scale_linted(std::vector<Linted>& linted, db::Connection& conn, const Thresholds& t) {
  auto names = finding_tables(linted);
  auto sizes = read_sizes(conn, {names.begin(), names.end()});
  for (auto& l : linted) scale(l.findings, sizes, t);
}

long long migrate_lock_timeout_ms(const config::Playbook* pb) {
  if (pb)
    for (const auto& s : pb->steps)
      if (s.kind == config::StepKind::Migrate) return s.lock_timeout.count();
  return config::StepSpec{}.lock_timeout.count();
}

std::vector<Linted> lint_native(const std::vector<const Migration*>& pending, long long lock_timeout_ms,
                                db::Connection* conn, const Thresholds& t) {
  Linter linter;
  std::vector<Linted> out;
  for (const auto* m : pending) {
    std::string file = m->dir + "/up.sql";
    std::string loss;
    out.push_back({m->id(), file, linter.lint({m->up_sql, file, !m->no_transaction, lock_timeout_ms, &loss})});
    migrate::remember_data_loss(*m, loss);  // what migrate::data_loss(*m) would parse again
  }
  scale_all(linter, out, conn, t);
  return out;
}

std::vector<Linted> lint_native(const std::vector<Migration>& pending, long long lock_timeout_ms, db::Connection* conn,
                                const Thresholds& t) {
  std::vector<const Migration*> ptrs;
  for (const auto& m : pending) ptrs.push_back(&m);
  return lint_native(ptrs, lock_timeout_ms, conn, t);
}

std::vector<Linted> lint_alembic(transport::Transport& t, const config::MigrationsSource& src,
                                 const std::string& current, db::Connection* conn, const Thresholds& th) {
  bool transactional = true;
  auto parts = alembic_upgrade_sql(t, src, current, transactional);
  auto paths = parts.empty() ? std::map<std::string, std::string>{} : alembic_paths(t, src);
  Linter linter;
  std::vector<Linted> out;
  for (const auto& p : parts) {
    auto it = paths.find(p.revision);
    std::string script = it == paths.end() ? "revision " + p.revision : it->second;
    std::string file = script + " [" + p.revision + ", alembic --sql]";
    out.push_back({p.revision, script, linter.lint({p.sql, file, transactional, 0})});
  }
  scale_all(linter, out, conn, th);
  return out;
}

std::vector<std::string> finding_tables(const std::vector<Linted>& linted) {
  std::set<std::string> names;
  for (const auto& l : linted)
    for (const auto& f : l.findings)
      if (!f.table.empty() && f.size_class != SizeClass::New) names.insert(f.table);
  return {names.begin(), names.end()};
}

}  // namespace ferry::migrate::lint
