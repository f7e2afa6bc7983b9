#include "migrate/lint/record.hpp"

#include "core/error.hpp"
#include "log/log.hpp"
#include "migrate/lint/lint.hpp"

namespace ferry::migrate::lint {

void record_accepted(db::Ledger& ledger, const std::string& run_id, const std::vector<Migration>& pending,
                     const std::vector<db::AppliedMigration>& applied, size_t from, long long lock_timeout_ms) {
  std::vector<db::AcceptedRisk> risks;
  for (size_t i = from; i < applied.size(); ++i)
    for (const auto& m : pending) {
      if (m.version != applied[i].version || m.up_sql.find("ferry:accept-risk") == std::string::npos) continue;
      std::string file = m.dir + "/up.sql";
      try {
        Linter linter;
        for (const auto& f : linter.lint({m.up_sql, file, !m.no_transaction, lock_timeout_ms}))
          if (f.accepted)
            risks.push_back({run_id, m.version, f.code, f.accept_reason,
                             f.file + ":" + std::to_string(f.line) + ":" + std::to_string(f.col), ""});
      } catch (const Error& e) {
        log::warn("accept-risk of " + m.id() + " not recorded: " + e.what());
      }
    }
  try {
    ledger.record_accepted_risks(risks);
  } catch (const Error& e) {
    log::warn("accepted risks not recorded in ferry.accepted_risks: " + std::string(e.what()));
  }
}

}  // namespace ferry::migrate::lint
