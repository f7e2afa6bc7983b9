// The Alembic driver (SPEC 4.2): `alembic upgrade head` / `alembic downgrade REV` where the
// application lives; the revision is always read back from alembic_version afterwards (an exit
// 0 is never proof that the work was done).
#include "migrate/alembic.hpp"
#include "steps/driver.hpp"
#include "steps/step.hpp"

namespace ferry::steps {

namespace {

std::string or_base(const std::string& v) { return v.empty() ? std::string("base") : v; }

class AlembicDriver : public Driver {
 public:
  AlembicDriver(const config::MigrationsSource& src, Transports& transports) : m_src(src), m_transports(transports) {}

  DriverState read(db::Connection& db, db::Ledger&) override {
    m_chain = migrate::alembic_history(m_transports.get(m_src.on), m_src);
    DriverState s;
    s.current = migrate::alembic_current(db);
    m_todo = migrate::alembic_pending(m_chain, s.current);  // Refused: a revision the scripts do not know
    m_before = s.current;
    s.applied = m_chain.size() - m_todo.size();
    for (const auto& r : m_todo) s.pending.push_back({r.id, r.message, "", r.id, false, false});
    return s;
  }
  std::string current_version(db::Connection& db, db::Ledger&) override { return migrate::alembic_current(db); }
  std::string read_label() const override { return "alembic history"; }
  std::string describe(const DriverState& s) const override {
    std::string todo;
    for (const auto& r : s.pending) todo += (todo.empty() ? "" : ", ") + r.version;
    return "at " + or_base(s.current) + "; pending: " + (todo.empty() ? std::string("none") : todo);
  }

  // Every pending revision must be reached there, by a succeeded ferry run.
  std::vector<GateGap> gate(const std::string& req, db::Connection& req_db, const DriverState& s) override {
    std::vector<GateGap> gaps;
    if (s.pending.empty()) return gaps;
    std::string cur = migrate::alembic_current(req_db);
    std::string at = " (" + req + " is at " + or_base(cur) + ")";
    for (const auto& r : s.pending)
      if (!migrate::alembic_reached(m_chain, cur, r.version))
        gaps.push_back({req, GapKind::NotApplied, req + ": " + r.version + " (" + r.name + ") is not applied" + at});
    if (!gaps.empty()) return gaps;
    db::Ledger ledger(req_db);
    const auto& newest = s.pending.back().version;
    for (const auto& run : ledger.runs(50))
      if (run.outcome == "succeeded" && migrate::alembic_reached(m_chain, run.version_after, newest)) return gaps;
    gaps.push_back({req, GapKind::NoSucceededRun, req + ": no succeeded ferry run brought it to " + newest});
    return gaps;
  }

  RollbackChoice rollback_for_plan(const config::Playbook& pb, const DriverState&) const override {
    if (pb.on_failure == config::OnFailure::Stop) return {RollbackMethod::None, "on_failure: stop"};
    if (pb.rollback == config::RollbackMethod::Restore) return {RollbackMethod::Restore, "rollback: restore"};
    bool backup = false;
    for (const auto& st : pb.steps) backup |= st.kind == config::StepKind::Backup;
    return {RollbackMethod::Downgrade,
            std::string("to the revision before the run") +
                (backup && pb.rollback == config::RollbackMethod::Auto ? "; backup restore if it fails" : "")};
  }
  RollbackChoice rollback_for_run(const config::Playbook& pb, const StageContext&) const override {
    return rollback_for_plan(pb, {});
  }

  std::string apply(StageContext& ctx, const config::StepSpec& spec) override {
    if (m_todo.empty()) return "nothing to apply, at " + (m_before.empty() ? std::string("no revision") : m_before);
    m_started = true;  // from here on, a failure may have changed the database
    const std::string head = m_todo.back().id;
    migrate::alembic_run(m_transports.get(m_src.on), m_src, "upgrade head", spec.timeout);
    std::string after = read_back(ctx, "upgrade head", head);
    for (const auto& r : m_todo) ctx.ledger.record_event(r.id, r.message, "applied", ctx.run_id);
    return "alembic upgrade head: " + or_base(m_before) + " -> " + after + " (" + std::to_string(m_todo.size()) +
           " revision" + (m_todo.size() == 1 ? "" : "s") + ")";
  }
  bool changed(const StageContext&) const override { return m_started; }
  std::string revert_run(StageContext& ctx) override {
    if (!m_started) return "";
    std::string now = migrate::alembic_current(ctx.db);
    if (now == m_before) return "";
    std::string target = or_base(m_before);
    migrate::alembic_run(m_transports.get(m_src.on), m_src, "downgrade " + target, std::nullopt);
    read_back(ctx, "downgrade " + target, m_before);
    for (auto it = m_todo.rbegin(); it != m_todo.rend(); ++it)
      ctx.ledger.record_event(it->id, it->message, "reverted", ctx.run_id);
    m_started = false;
    return "alembic downgrade " + target + " (from " + now + ")";
  }
  void after_reconnect(StageContext&) override {}

  std::string revert_to(StageContext& ctx, const std::string& to, bool& changed) override;
  bool is_version(const std::string& backup_version, const std::string& to) const override {
    return backup_version == (to == "base" || to == "0" ? "" : to);
  }
  std::string version_noun() const override { return "alembic revision"; }

 private:
  // alembic_version after `what`: it must be `want` ("" = base), whatever alembic's exit code said.
  std::string read_back(StageContext& ctx, const std::string& what, const std::string& want) {
    std::string got = migrate::alembic_current(ctx.db);
    if (got != want)
      throw Error(ErrorKind::Command, "alembic " + what + " exited 0, but alembic_version says " + or_base(got) +
                                          ", not " + or_base(want) + ": the work was not done as asked");
    return or_base(got);
  }

  config::MigrationsSource m_src;
  Transports& m_transports;
  std::vector<migrate::AlembicRevision> m_chain;
  std::vector<migrate::AlembicRevision> m_todo;  // pending at read()
  std::string m_before;                          // the revision at read()
  bool m_started = false;                        // `upgrade head` was started
};

std::string AlembicDriver::revert_to(StageContext& ctx, const std::string& to, bool& changed) {
  auto& t = m_transports.get(m_src.on);
  m_chain = migrate::alembic_history(t, m_src);
  std::string target = to == "0" ? "base" : to;
  std::string now = migrate::alembic_current(ctx.db);
  migrate::alembic_pending(m_chain, now);  // a revision the scripts do not know: drift, refused
  bool known = target == "base";
  for (const auto& r : m_chain) known |= r.id == target;
  if (!known)
    throw Error(ErrorKind::Config, "alembic revision '" + to + "' is not in the history of '" + ctx.env.name + "'",
                "see `alembic history`; --to base downgrades everything");
  if (target != "base" && !migrate::alembic_reached(m_chain, now, target))
    throw Error(ErrorKind::Config,
                "'" + ctx.env.name + "' is at alembic revision '" + or_base(now) + "', before '" + to +
                    "': rollback only goes back",
                "to upgrade, run a playbook");
  if (now.empty() || now == target) return "already at " + target;
  guard_lock(ctx.ledger);
  changed = true;  // a failed downgrade may have done part of its work
  migrate::alembic_run(t, m_src, "downgrade " + target, std::nullopt);
  std::string after = read_back(ctx, "downgrade " + target, target == "base" ? "" : target);
  auto undone = migrate::alembic_pending(m_chain, target == "base" ? "" : target);
  for (auto it = undone.rbegin(); it != undone.rend(); ++it)
    if (migrate::alembic_reached(m_chain, now, it->id))
      ctx.ledger.record_event(it->id, it->message, "reverted", ctx.run_id);
  return "alembic downgrade " + target + " (from " + now + "), now at " + after;
}

}  // namespace

std::unique_ptr<Driver> make_alembic_driver(const config::MigrationsSource& src, Transports& transports) {
  return std::make_unique<AlembicDriver>(src, transports);
}

}  // namespace ferry::steps
