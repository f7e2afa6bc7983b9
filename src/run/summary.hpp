// The StageSummary a stage ends with (for notifications and metrics), from its context.
#pragma once
#include <string>

#include "report/reporter.hpp"
#include "steps/context.hpp"

namespace ferry::run {

// Versions before and after, this stage's backup, pending migrations. Never throws: a
// database that cannot be read leaves version_after empty.
void note_context(report::StageSummary& s, steps::StageContext& ctx);
// "rolled back" -> "rolled_back", as ferry.runs writes outcomes.
std::string outcome_id(const std::string& outcome);

}  // namespace ferry::run
