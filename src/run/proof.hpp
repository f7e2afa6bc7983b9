// What a stage's proof compares: the database with its pre-run baseline, and the services
// whose health counts.
#pragma once
#include <string>
#include <vector>

#include "config/model.hpp"
#include "db/pg.hpp"
#include "steps/context.hpp"

namespace ferry::run {

// Fingerprint + row counts, compared with the baseline. "" when equal, else what differs.
std::string compare_with_baseline(db::Connection& db, const steps::Baseline& base);
// Services whose health the proof checks: those the playbook restarts or probes.
std::vector<const config::Service*> proof_services(const config::Playbook& pb, const config::Environment& env);

}  // namespace ferry::run
