#include "steps/http.hpp"
#include "steps/notify.hpp"

#include "steps/curl_api.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "log/log.hpp"

namespace ferry::steps {

namespace {

using Clock = std::chrono::steady_clock;

size_t discard(char*, size_t size, size_t n, void*) { return size * n; }

// One POST: "" on HTTP 2xx, else why not.
std::string attempt(const config::Webhook& w, const std::string& body, long timeout_ms) {
  CURL* curl = curl_api().easy_init();
  if (!curl) return "cannot start libcurl";
  curl_slist* headers = curl_api().slist_append(nullptr, "Content-Type: application/json");
  for (const auto& [name, value] : w.headers) headers = curl_api().slist_append(headers, (name + ": " + value).c_str());
  http_common(curl, w.url, timeout_ms, timeout_ms);
  curl_api().easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_api().easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_api().easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_api().easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = curl_api().easy_perform(curl);
  long status = 0;
  curl_api().easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_api().easy_cleanup(curl);
  curl_api().slist_free_all(headers);
  if (rc != CURLE_OK) return curl_api().easy_strerror(rc);
  if (status < 200 || status > 299) return "HTTP " + std::to_string(status);
  return "";
}

std::string payload(const report::StageSummary& s) {
  nlohmann::json j = {{"schema_version", 1},
                      {"run_id", s.run_id},
                      {"playbook", s.playbook},
                      {"environment", s.environment},
                      {"outcome", s.outcome},
                      {"exit_code", s.exit_code},
                      {"version_before", s.version_before},
                      {"version_after", s.version_after},
                      {"backup_id", s.backup_id},
                      {"backup_file", s.backup_file},
                      {"duration_ms", s.took.count()},
                      {"error", s.error},
                      {"code_versions", s.code_versions},
                      {"at", now_iso8601()}};
  if (s.pending >= 0) j["pending"] = s.pending;
  return j.dump();
}

class Notifier : public report::Reporter {
 public:
  Notifier(const config::Project& project, const config::Playbook& pb) : m_project(project), m_pb(pb) {}
  void run_started(const std::string&, const std::string&, const std::vector<std::string>&) override {}
  void stage_started(const std::string&, const std::string&) override {}
  void step_started(const std::string&) override {}
  void step_progress(const std::string&, const std::string&) override {}
  void step_finished(const std::string&, const std::string&, Millis) override {}
  void step_failed(const std::string&, const std::string&, Millis) override {}
  void step_compensated(const std::string&, bool, const std::string&, Millis) override {}
  void message(report::Level, const std::string&) override {}
  void stage_finished(const std::string&, const std::string&, Millis) override {}
  void run_finished(const std::string&, int, Millis) override {}
  void stage_summary(const report::StageSummary& s) override {
    std::vector<const config::Webhook*> hooks;
    if (auto it = m_project.environments.find(s.environment); it != m_project.environments.end())
      for (const auto& w : it->second.notify) hooks.push_back(&w);
    for (const auto& w : m_pb.notify) hooks.push_back(&w);
    std::string body;
    for (const auto* w : hooks) {
      if (!wants(*w, s.outcome)) continue;
      if (body.empty()) body = payload(s);
      log::debug("notify " + w->url + ": " + s.environment + " " + s.outcome);
      std::string why = post_webhook(*w, body);
      // Redacted by the log: the URL may carry a ${secret:...} token.
      if (!why.empty()) log::warn("notification to " + w->url + " not delivered: " + why);
    }
  }

 private:
  const config::Project& m_project;
  const config::Playbook& m_pb;
};

}  // namespace

bool wants(const config::Webhook& w, const std::string& outcome) {
  for (const auto& o : w.on) {
    if (o == outcome) return true;
    if (o == "success" && outcome == "succeeded") return true;
    if (o == "failure" && outcome != "succeeded") return true;
  }
  return false;
}

std::string post_webhook(const config::Webhook& w, const std::string& body) {
  auto deadline = Clock::now() + w.timeout;
  std::chrono::milliseconds wait{250};
  std::string why;
  for (int i = 0; i <= w.retries; ++i) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 50) break;
    why = attempt(w, body, static_cast<long>(left));
    if (why.empty()) return "";
    if (i == w.retries || Clock::now() + wait >= deadline) break;
    std::this_thread::sleep_for(wait);
    wait *= 2;
  }
  return why.empty() ? "no time left within " + format_duration(w.timeout) : why;
}

std::unique_ptr<report::Reporter> make_notifier(const config::Project& project, const config::Playbook& playbook) {
  return std::make_unique<Notifier>(project, playbook);
}

}  // namespace ferry::steps
