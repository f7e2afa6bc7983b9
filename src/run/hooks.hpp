// The playbook's hooks: `on_failure:` after a stage that did not succeed (its rollback done,
// its outcome known) and `finally:` after every stage. A hook's failure is reported as a
// warning and never changes the stage's exit code or outcome.
#pragma once
#include "config/model.hpp"
#include "report/reporter.hpp"

namespace ferry::run {

// Runs the hooks that apply to `sum.outcome`, in order (on_failure first). Never throws.
void run_hooks(const config::Project& project, const config::Playbook& pb, const config::Environment& env,
               const report::StageSummary& sum, report::Reporter& rep);

}  // namespace ferry::run
