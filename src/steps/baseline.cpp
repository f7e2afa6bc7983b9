#include "steps/baseline.hpp"

#include "core/text.hpp"
#include "db/introspect.hpp"

namespace ferry::steps {

Baseline read_baseline(db::Connection& db, const std::string& version) {
  Baseline b;
  b.version = version;
  b.description = db::schema_description(db);
  b.fingerprint = sha256_hex(b.description);
  b.row_counts = db::row_counts(db);
  b.sequences = db::sequence_positions(db);
  return b;
}

bool baseline_in_backup(const config::Playbook& pb) {
  return !pb.steps.empty() && pb.steps.front().kind == config::StepKind::Backup;
}

const Baseline& settled_baseline(StageContext& ctx) {
  if (ctx.baseline.in_backup) ctx.baseline = read_baseline(ctx.db, ctx.baseline.version);
  return ctx.baseline;
}

}  // namespace ferry::steps
