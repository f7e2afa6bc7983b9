// Service actions shared by the restart/health steps and by compensation.
#pragma once
#include <optional>
#include <string>

#include "steps/step.hpp"

namespace ferry::steps {

// Runs the service's restart command on its connection. Throws Error(Command).
std::string restart_service(StageContext& ctx, const config::Service& svc, std::optional<Millis> timeout);
// Reads services.NAME.version of each service the playbook restarts into ctx.code_versions,
// before any step runs. "" when done, else why not (reported as a failed "version NAME" line).
std::string record_code_versions(StageContext& ctx);
// Runs services.NAME.rollback with FERRY_PREVIOUS_VERSION, then the health probe. Throws
// Error(Command) naming the command and its output.
std::string rollback_service(StageContext& ctx, const config::Service& svc, std::optional<Millis> timeout);
// Probes the service's health URL until healthy or timeout. Throws Error(Verify).
std::string check_health(StageContext& ctx, const config::Service& svc, const std::string& step_label,
                         std::optional<Millis> timeout);

}  // namespace ferry::steps
