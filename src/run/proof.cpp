#include "run/proof.hpp"

#include <algorithm>

#include "core/text.hpp"
#include "db/introspect.hpp"

namespace ferry::run {

std::string compare_with_baseline(db::Connection& db, const steps::Baseline& base) {
  std::string description = db::schema_description(db);
  std::string fp = sha256_hex(description);
  auto counts = db::row_counts(db);
  std::string diff;
  if (fp != base.fingerprint)
    diff += "schema fingerprint " + fp.substr(0, 12) + " differs from " + base.fingerprint.substr(0, 12) +
            " before the run (" + db::describe_difference(base.description, description) + ")";
  for (const auto& [t, n] : base.row_counts) {
    auto it = counts.find(t);
    if (it == counts.end())
      diff += (diff.empty() ? "" : "; ") + std::string("table ") + t + " is gone";
    else if (it->second != n)
      diff += (diff.empty() ? "" : "; ") + std::string("rows ") + t + ": " + std::to_string(it->second) + " now, " +
              std::to_string(n) + " before";
  }
  for (const auto& [t, n] : counts)
    if (!base.row_counts.count(t)) diff += (diff.empty() ? "" : "; ") + std::string("table ") + t + " is new";
  for (const auto& s : db::sequences_behind(base.sequences, db::sequence_positions(db)))
    diff += (diff.empty() ? "" : "; ") + s;
  return diff;
}

std::vector<const config::Service*> proof_services(const config::Playbook& pb, const config::Environment& env) {
  std::vector<const config::Service*> out;
  for (const auto& s : pb.steps) {
    if (s.kind != config::StepKind::Restart && s.kind != config::StepKind::Health) continue;
    const auto& svc = env.services.at(s.service);
    if (!svc.health) continue;
    if (std::find(out.begin(), out.end(), &svc) == out.end()) out.push_back(&svc);
  }
  return out;
}

}  // namespace ferry::run
