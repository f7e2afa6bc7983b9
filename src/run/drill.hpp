// Backup verification and restore drills (`ferry backup verify ENV [ID] [--restore]`): the
// file's sha256 and pg_restore -l, or a whole restore into a scratch database on the same
// server, proven equal to the sidecar and timed (the RTO), then dropped. ENV's own database
// is never written.
#pragma once
#include <string>

#include "config/model.hpp"
#include "steps/context.hpp"

namespace ferry::run {

// "" when the file matches its sha256 and pg_restore can list it; else why not.
std::string check_backup_readable(const config::Environment& env, steps::Transports& t, const steps::BackupMeta& meta);

struct DrillResult {
  bool ok = false;
  long long duration_ms = 0;  // the restore itself (the RTO)
  std::string time;           // when the drill started, UTC ISO 8601
  std::string scratch;        // the scratch database's name
  std::string server;         // HOST:PORT it was made on (backup.drill's, or the environment's)
  std::string why;            // what failed, "" when proven
};

// Restores `meta` into a new scratch database ferry_drill_<ENV>_<random> (CREATE DATABASE ...
// TEMPLATE template0 on ENV's server, or on backup.drill's with its name_prefix), compares its fingerprint and row
// counts with the sidecar's, and drops it, also after a failure or a signal. Throws Error(Command) when the role lacks
// CREATEDB (nothing created).
DrillResult restore_drill(const config::Project& project, const config::Environment& env, steps::Transports& t,
                          const steps::BackupMeta& meta);

// Appends {time, duration_ms, ok, server} to the sidecar's `drills` (written on backup.on, atomically).
void record_drill(const config::Environment& env, steps::Transports& t, const steps::BackupMeta& meta,
                  const DrillResult& r);

}  // namespace ferry::run
