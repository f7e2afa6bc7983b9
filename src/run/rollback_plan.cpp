#include "run/rollback_plan.hpp"

#include <time.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "migrate/alembic.hpp"
#include "migrate/migration_set.hpp"
#include "run/lock_json.hpp"
#include "run/rollback_report.hpp"
#include "run/runner.hpp"
#include "run/waiting.hpp"
#include "steps/backup.hpp"
#include "steps/write_counters.hpp"

namespace ferry::run {

using nlohmann::json;

namespace {

// "YYYYMMDDTHHMMSSZ" of a backup's ID (when it started) as an RFC 3339 time.
std::string id_started(const steps::BackupMeta& b) {
  std::string s = b.id.substr(b.environment.size() + 1, 16);
  return s.substr(0, 4) + "-" + s.substr(4, 2) + "-" + s.substr(6, 2) + "T" + s.substr(9, 2) + ":" + s.substr(11, 2) +
         ":" + s.substr(13, 2) + "Z";
}

long long age_seconds(const std::string& iso) {
  std::tm t{};
  if (!strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &t)) return -1;
  return static_cast<long long>(std::time(nullptr) - timegm(&t));
}

std::string human_age(long long s) {
  if (s < 0) return "unknown age";
  if (s < 120) return std::to_string(s) + " s ago";
  if (s < 7200) return std::to_string(s / 60) + " min ago";
  if (s < 172800) return std::to_string(s / 3600) + " h " + std::to_string(s / 60 % 60) + " min ago";
  return std::to_string(s / 86400) + " days ago";
}

std::string or_none(const std::string& v) { return v.empty() ? "none" : v; }

// The newest verified backup matching `ok`, or Error(Config) saying what was looked for.
template <class Pred>
steps::BackupMeta newest_where(const std::vector<steps::BackupMeta>& all, const config::Environment& env,
                               const std::string& wanted, Pred ok) {
  for (const auto& b : all)
    if (b.verified && ok(b)) return b;
  throw Error(ErrorKind::Config, "no verified backup '" + wanted + "' for '" + env.name + "'",
              "list them with `ferry backups " + env.name + "`");
}

steps::BackupMeta match_backup(const config::Environment& env, const std::vector<steps::BackupMeta>& all,
                               db::Connection& db, const std::string& wanted) {
  if (wanted == "latest") return newest_where(all, env, wanted, [](const steps::BackupMeta&) { return true; });
  if (wanted.rfind("before:", 0) == 0) {
    std::string v = wanted.substr(7);
    if (db.exec("SELECT pg_catalog.to_regclass('alembic_version') IS NOT NULL").text(0, 0) == "t") {
      // The newest backup started before VERSION was applied.
      std::string at = db::Ledger(db).applied_at(v);
      if (at.empty())
        throw Error(ErrorKind::Config, "revision '" + v + "' was never applied by ferry in '" + env.name + "'");
      return newest_where(all, env, wanted, [&](const steps::BackupMeta& b) { return id_started(b) < at; });
    }
    return newest_where(all, env, wanted,
                        [&](const steps::BackupMeta& b) { return migrate::compare_versions(b.version, v) < 0; });
  }
  if (wanted.rfind("before-run:", 0) == 0) {
    std::string run = wanted.substr(11);
    auto run_started = db::Ledger(db).run_started(run);
    if (!run_started)
      throw Error(ErrorKind::Config, "no run '" + run + "' in '" + env.name + "'",
                  "see `ferry history " + env.name + "`");
    std::string started = *run_started;
    // The run's own backup was taken before it changed anything; else the newest one before it.
    for (const auto& b : all)
      if (b.verified && b.run_id == run) return b;
    return newest_where(all, env, wanted, [&](const steps::BackupMeta& b) { return id_started(b) < started; });
  }
  if (!steps::valid_backup_id(env.name, wanted))
    throw Error(ErrorKind::Config,
                "'" + wanted + "' is not a backup of environment '" + env.name + "' (its backups are " + env.name +
                    "-YYYYMMDDTHHMMSSZ-XXXX, latest, before:VERSION or before-run:RUN_ID)",
                "list them with `ferry backups " + env.name + "`");
  return newest_where(all, env, wanted, [&](const steps::BackupMeta& b) { return b.id == wanted; });
}

void read_lock_holder(db::Connection& db, RollbackPlan& p) {
  db::Ledger ledger(db);
  p.holder = ledger.lock_holder();
  if (p.holder) p.lock_holder = p.holder->describe();
}

}  // namespace

steps::BackupMeta choose_backup(const config::Environment& env, steps::Transports& transports, db::Connection& db,
                                report::Reporter& rep, const std::string& wanted, bool check_file) {
  std::vector<std::string> warnings;
  auto all = steps::list_backups(env, transports, &warnings);
  for (const auto& w : warnings) rep.message(report::Level::Warn, w);
  steps::BackupMeta found = match_backup(env, all, db, wanted);
  if (!check_file) return found;
  if (auto why = steps::check_backup_file(env, transports, found); !why.empty()) {
    auto good = steps::newest_good_backup(env, transports, found.id);
    throw Error(ErrorKind::Command, "backup " + found.id + " cannot be restored: " + why + "; nothing was changed",
                good ? "a good backup of " + env.name + " (its sha256 matches): " + good->id +
                           "; restore it with `ferry rollback " + env.name + " --backup " + good->id + "`"
                     : "no backup of " + env.name + " matches its sha256");
  }
  return found;
}

RollbackPlan plan_restore(db::Connection& db, const steps::BackupMeta& backup, bool alembic) {
  RollbackPlan p;
  p.backup = backup;
  p.alembic = alembic;
  p.backup_age_s = age_seconds(backup.time);
  db::Ledger ledger(db);
  bool has_ledger = ledger.schema_exists();
  p.current_version = alembic ? migrate::alembic_current(db) : has_ledger ? ledger.current_version() : "";
  p.target_version = backup.version;
  if (has_ledger) {
    auto now = ledger.applied();
    for (auto it = now.rbegin(); it != now.rend(); ++it) {
      bool kept = false;
      for (const auto& m : backup.ledger) kept |= m.version == it->version;
      if (!kept) p.undo.push_back(*it);
    }
    if (auto newest = ledger.newest_change(backup.time)) {
      p.newest_change = newest->text;
      p.newer_backup = newest->before;
    }
  }
  p.runs_since = ledger.runs_since(id_started(backup));
  if (backup.write_counters) {
    p.writes_known = true;
    p.discarded = steps::writes_since(*backup.write_counters, steps::read_write_counters(db));
  }
  read_lock_holder(db, p);
  return p;
}

RollbackPlan plan_down(db::Connection& db, const std::string& to, bool alembic) {
  RollbackPlan p;
  p.alembic = alembic;
  p.target_version = to;
  db::Ledger ledger(db);
  bool has_ledger = ledger.schema_exists();
  p.current_version = alembic ? migrate::alembic_current(db) : has_ledger ? ledger.current_version() : "";
  if (has_ledger && !alembic) {
    auto now = ledger.applied();
    for (auto it = now.rbegin(); it != now.rend(); ++it)
      if (migrate::compare_versions(it->version, to) > 0) p.undo.push_back(*it);
  }
  read_lock_holder(db, p);
  return p;
}

void show_plan(const RollbackPlan& p, report::Reporter& rep) {
  auto info = [&](const std::string& s) { rep.message(report::Level::Info, s); };
  if (p.backup) {
    const auto& b = *p.backup;
    info("backup " + b.id + ": taken " + b.time + " (" + human_age(p.backup_age_s) + "), version " +
         or_none(b.version) + ", fingerprint " + b.fingerprint.substr(0, 12) + ", " + std::to_string(b.size) +
         " bytes, " + (b.verified ? "verified" : "NOT verified") + (b.pinned ? ", pinned" : ", not pinned"));
  }
  info("current version " + or_none(p.current_version) + " -> after the rollback " + or_none(p.target_version));
  std::string undo;
  for (const auto& m : p.undo) undo += (undo.empty() ? "" : ", ") + m.version + " (" + m.name + ")";
  info("migrations undone: " + (undo.empty() ? std::string("none") : undo));
  if (p.backup) {
    std::string runs;
    for (const auto& r : p.runs_since)
      runs += (runs.empty() ? "" : "; ") + r.id + " " + r.playbook + " by " + r.operator_name + " " + r.outcome + " (" +
              or_none(r.version_before) + " -> " + or_none(r.version_after) + ")";
    info("runs since the backup: " + (runs.empty() ? std::string("none") : runs));
    std::string w = !p.writes_known ? "unknown (the backup's sidecar has no write counters)"
                    : !p.discarded  ? "unknown (the statistics were reset since the backup)"
                                    : "about " + std::to_string(p.discarded->ins) + " inserted, " +
                                         std::to_string(p.discarded->upd) + " updated, " +
                                         std::to_string(p.discarded->del) + " deleted row(s)";
    info("writes since the backup that the restore discards: " + w);
  }
  if (p.newer_backup)
    rep.message(report::Level::Warn, "backup " + p.backup->id + " was taken after the newest change, " +
                                         p.newest_change + ": restoring it does not undo that change");
  if (!p.lock_holder.empty()) rep.message(report::Level::Warn, "the environment is locked by " + p.lock_holder);
}

json plan_json(const RollbackPlan& p) {
  json j = {{"current_version", p.current_version},
            {"target_version", p.target_version},
            {"driver", p.alembic ? "alembic" : "native"}};
  j["backup"] = nullptr;
  if (p.backup) {
    j["backup"] = steps::backup_to_json(*p.backup, false);
    j["backup"]["pinned"] = p.backup->pinned;
    j["backup"]["age_seconds"] = p.backup_age_s;
    j["backup"].erase("row_counts");
  }
  j["undo"] = json::array();
  for (const auto& m : p.undo)
    j["undo"].push_back({{"version", m.version}, {"name", m.name}, {"applied_at", m.applied_at}});
  j["runs_since_backup"] = json::array();
  for (const auto& r : p.runs_since)
    j["runs_since_backup"].push_back({{"id", r.id},
                                      {"playbook", r.playbook},
                                      {"operator", r.operator_name},
                                      {"started", r.started},
                                      {"outcome", r.outcome},
                                      {"version_before", r.version_before},
                                      {"version_after", r.version_after}});
  j["discarded_writes"] = nullptr;  // unknown
  if (p.discarded)
    j["discarded_writes"] = {
        {"inserted", p.discarded->ins}, {"updated", p.discarded->upd}, {"deleted", p.discarded->del}};
  j["backup_newer_than_last_change"] = p.newer_backup;
  j["newest_change"] = p.newest_change;
  j["lock_holder"] = lock_holder_json(p.holder);
  return j;
}

std::string plan_refusal(const RollbackPlan& p, const config::Environment& env, bool allow_newer_backup) {
  if (p.newer_backup && env.is_protected && !allow_newer_backup)
    return "backup " + p.backup->id + " was taken after the newest change (" + p.newest_change +
           ") and would not undo it; pass --allow-newer-backup to restore it anyway on protected '" + env.name +
           "', or choose an older one with --backup before:VERSION or before-run:RUN_ID";
  return "";
}

bool present_plan(const config::Environment& env, steps::Transports& transports, const RollbackOptions& opts,
                  bool alembic, report::Reporter& rep, RollbackDocument* doc,
                  std::optional<steps::BackupMeta>& chosen) {
  auto link = connect_when_ready(env, &transports, opts.wait_ready, rep);
  // A swap restore checks the sha256 in the same read that decompresses the file (not for a dry run).
  bool swap = env.backup && env.backup->restore == "swap";
  if (opts.backup_id) chosen = choose_backup(env, transports, *link.conn, rep, *opts.backup_id, opts.dry_run || !swap);
  RollbackPlan plan =
      chosen ? plan_restore(*link.conn, *chosen, alembic) : plan_down(*link.conn, *opts.to_version, alembic);
  show_plan(plan, rep);
  if (doc) doc->set_plan(plan_json(plan));
  if (auto why = plan_refusal(plan, env, opts.allow_newer_backup); !why.empty()) throw Error(ErrorKind::Refused, why);
  if (!opts.dry_run) return false;
  if (!plan.lock_holder.empty())
    throw Error(ErrorKind::Refused, "environment '" + env.name + "' is locked by " + plan.lock_holder);
  rep.message(report::Level::Info, "dry run: nothing was changed");
  return true;
}

int plan_exit_code(const Error& e, bool dry_run) {
  if (e.kind() == ErrorKind::Config) return exit_code::k_usage;
  if (e.kind() == ErrorKind::Refused || (dry_run && e.kind() == ErrorKind::Command)) return exit_code::k_refused;
  return exit_code::k_failed_clean;
}

}  // namespace ferry::run
