// The first phase of a swap restore (restore_swap.cpp): the copy created while the backup file
// is decompressed and its sha256 checked (overlapped), then pg_restore -j into the copy, with
// progress and the early row counts read by polling the copy (restore_counts.*).
#pragma once
#include <string>

#include "core/duration.hpp"
#include "steps/context.hpp"
#include "steps/restore_counts.hpp"

namespace ferry::steps::detail {

// The time of each phase of a swap restore, in the diagnostics log (-vv, --log-file): where a
// restore's time goes (bench/README.md's breakdown).
class PhaseClock {
 public:
  void done(const std::string& phase);

 private:
  Stopwatch m_sw;
  Millis m_last{0};
};

// Creates `scratch` like the original (on `m`, the maintenance session) while the backup file is
// decompressed next to itself and hashed; pg_restore -j starts only once both are done and the
// sha256 matched. Jobs: backup.restore_jobs, else the CPUs of backup.on's host (`nproc` there).
// Throws RestoreNotApplied when it failed (the caller drops `scratch`; the file is removed).
void create_and_restore(StageContext& ctx, const BackupMeta& meta, const std::string& scratch, db::Connection& m,
                        PhaseClock& clock, RestoreCounts& counts);

}  // namespace ferry::steps::detail
