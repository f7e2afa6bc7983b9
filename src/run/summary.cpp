#include "run/summary.hpp"

namespace ferry::run {

void note_context(report::StageSummary& s, steps::StageContext& ctx) {
  s.version_before = ctx.baseline.version;
  s.pending = static_cast<int>(ctx.state.pending.size());
  s.code_versions = ctx.code_versions;
  if (ctx.backup) {
    s.backup_id = ctx.backup->id;
    s.backup_file = ctx.backup->file;
    s.backup_size = ctx.backup->size;
  }
  try {
    if (ctx.db.alive()) s.version_after = steps::current_version(ctx);
  } catch (const std::exception&) {
    s.version_after.clear();
  }
}

std::string outcome_id(const std::string& outcome) {
  std::string s = outcome;
  for (char& c : s)
    if (c == ' ') c = '_';
  return s;
}

}  // namespace ferry::run
