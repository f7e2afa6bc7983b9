// The native driver (SPEC 4.1): migrations/NNNN_name/{up,down}.sql, the ledger ferry.migrations.
#include "migrate/sql_parser.hpp"
#include "steps/driver.hpp"
#include "steps/step.hpp"

namespace ferry::steps {

namespace {

bool takes_backup(const config::Playbook& pb) {
  for (const auto& s : pb.steps)
    if (s.kind == config::StepKind::Backup) return true;
  return false;
}

// How a failed stage that applied `ran` is undone: down SQL unless something cannot be undone by it.
RollbackChoice choose(const config::Playbook& pb, const std::vector<migrate::Migration>& ran) {
  bool backup = takes_backup(pb);
  if (pb.on_failure == config::OnFailure::Stop) return {RollbackMethod::None, "on_failure: stop"};
  if (pb.rollback == config::RollbackMethod::Restore)
    return {RollbackMethod::Restore,
            backup ? "rollback: restore" : "rollback: restore, but the playbook takes no backup"};
  for (const auto& m : ran) {
    if (m.irreversible)
      return {backup ? RollbackMethod::Restore : RollbackMethod::None,
              m.id() + " is irreversible" + std::string(backup ? "" : " and the playbook takes no backup")};
  }
  if (pb.rollback == config::RollbackMethod::Auto) {
    for (const auto& m : ran) {
      const std::string& why = migrate::data_loss(m);
      if (!why.empty() && !m.down_restores_data)
        return {backup ? RollbackMethod::Restore : RollbackMethod::DownSqlDataLoss,
                m.id() + " " + why + (backup ? "" : "; the playbook takes no backup to bring it back")};
    }
  }
  if (ran.empty()) return {RollbackMethod::DownSql, "nothing pending"};
  return {RollbackMethod::DownSql, backup ? "reversible; backup restore if a down fails" : "reversible"};
}

class NativeDriver : public Driver {
 public:
  explicit NativeDriver(std::vector<migrate::Migration> files) : m_files(std::move(files)) {}

  DriverState read(db::Connection&, db::Ledger& ledger) override {
    auto applied = ledger.applied();
    m_plan = migrate::make_plan(m_files, applied);
    DriverState s;
    s.current = m_plan.current;
    s.applied = applied.size();
    for (const auto& m : m_plan.pending)
      s.pending.push_back({m.version, m.name, m.dir, m.id(), m.no_transaction, m.irreversible});
    for (const auto& d : m_plan.drift) s.drift.push_back(d.message);
    for (const auto& e : ledger.interrupted_applies())
      s.interrupted.push_back(e.version + "_" + e.name + " (no-transaction) was cut off while applying (run " +
                              e.run_id + ", " + e.at + "): part of it may be applied, and it is not in the ledger");
    s.pending_files = m_plan.pending;
    return s;
  }
  std::string current_version(db::Connection&, db::Ledger& ledger) override { return ledger.current_version(); }
  std::string read_label() const override { return ""; }
  std::string describe(const DriverState& s) const override {
    return "at " + (s.current.empty() ? std::string("no version") : s.current) + "; " +
           std::to_string(s.pending.size()) + " pending";
  }

  std::vector<GateGap> gate(const std::string& req, db::Connection& req_db, const DriverState& s) override {
    std::map<std::string, std::pair<std::string, std::string>> have;  // version -> checksum, outcome
    db::Ledger ledger(req_db);
    for (const auto& a : ledger.applied_with_outcome()) have[a.version] = {a.checksum, a.outcome};
    std::vector<GateGap> gaps;
    for (const auto& m : s.pending_files) {
      auto it = have.find(m.version);
      if (it == have.end())
        gaps.push_back({req, GapKind::NotApplied, req + ": " + m.id() + " is not applied"});
      else if (it->second.first != m.checksum)
        gaps.push_back({req, GapKind::OtherChecksum,
                        req + ": " + m.id() + " was applied with a different checksum (" +
                            it->second.first.substr(0, 12) + ", here " + m.checksum.substr(0, 12) + ")"});
      else if (it->second.second != "succeeded")
        gaps.push_back({req, GapKind::UnfinishedRun,
                        req + ": " + m.id() + " was applied by a run whose outcome is '" + it->second.second + "'"});
    }
    return gaps;
  }

  RollbackChoice rollback_for_plan(const config::Playbook& pb, const DriverState& s) const override {
    return choose(pb, s.pending_files);
  }
  RollbackChoice rollback_for_run(const config::Playbook& pb, const StageContext& ctx) const override {
    std::vector<migrate::Migration> ran;
    for (const auto& a : ctx.applied_this_run)
      for (const auto& f : m_files)
        if (f.version == a.version) ran.push_back(f);
    return choose(pb, ran);
  }

  std::string apply(StageContext& ctx, const config::StepSpec& spec) override {
    return apply_migrations(ctx, spec, m_plan);
  }
  bool changed(const StageContext& ctx) const override { return !ctx.applied_this_run.empty(); }
  std::string revert_run(StageContext& ctx) override {
    if (ctx.applied_this_run.empty()) return "";
    return revert_migrations(ctx);
  }
  void after_reconnect(StageContext& ctx) override {
    ctx.applied_this_run.clear();
    for (auto& a : ctx.ledger.applied())
      if (a.run_id == ctx.run_id) ctx.applied_this_run.push_back(a);
  }

  std::string revert_to(StageContext& ctx, const std::string& to, bool& changed) override {
    auto applied = ctx.ledger.applied();
    bool known = to == "0";
    for (const auto& a : applied) known |= migrate::compare_versions(a.version, to) == 0;
    if (!known)
      throw Error(ErrorKind::Config, "version '" + to + "' is not applied in '" + ctx.env.name + "'",
                  "see `ferry history " + ctx.env.name + "`; --to 0 reverts everything");
    for (const auto& a : applied)
      if (migrate::compare_versions(a.version, to) > 0) ctx.applied_this_run.push_back(a);
    if (ctx.applied_this_run.empty()) return "already at " + to;
    guard_lock(ctx.ledger);
    changed = true;
    size_t before = ctx.applied_this_run.size();
    std::string summary;
    try {
      summary = revert_migrations(ctx);
    } catch (const Error&) {
      changed = ctx.applied_this_run.size() != before;  // a failed down rolled back: reverted none
      throw;
    }
    return summary + ", now at " + ctx.ledger.current_version();
  }
  bool is_version(const std::string& backup_version, const std::string& to) const override {
    return migrate::compare_versions(backup_version, to) == 0;
  }
  std::string version_noun() const override { return "version"; }

 private:
  std::vector<migrate::Migration> m_files;
  migrate::Plan m_plan;
};

}  // namespace

std::unique_ptr<Driver> make_native_driver(std::vector<migrate::Migration> files) {
  return std::make_unique<NativeDriver>(std::move(files));
}

}  // namespace ferry::steps
