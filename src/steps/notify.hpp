// Webhook notifications of a stage's outcome (libcurl, as health.cpp). A notification never
// fails or holds up a run beyond its webhook's timeout: a receiver that is down is a warning.
#pragma once
#include <memory>
#include <string>

#include "config/model.hpp"
#include "report/reporter.hpp"

namespace ferry::steps {

// Whether a webhook listening `on` these outcomes wants `outcome`.
bool wants(const config::Webhook& w, const std::string& outcome);
// POSTs `body` (JSON) with retries inside w.timeout; "" when delivered (HTTP 2xx), else why not.
std::string post_webhook(const config::Webhook& w, const std::string& body);
// A Reporter that sends each stage's summary to the environment's and the playbook's webhooks.
std::unique_ptr<report::Reporter> make_notifier(const config::Project& project, const config::Playbook& playbook);

}  // namespace ferry::steps
