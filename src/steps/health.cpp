#include "steps/http.hpp"
#include "steps/health.hpp"

#include "steps/curl_api.hpp"

#include <thread>

#include "core/error.hpp"

namespace ferry::steps {

namespace {
size_t collect(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() < (1 << 20)) body->append(data, size * n);
  return size * n;
}

// One attempt: "" when healthy, otherwise why not.
std::string attempt(const config::HealthSpec& spec, long timeout_ms, const std::string& connect_to) {
  CURL* curl = curl_api().easy_init();
  curl_slist* connect_list = nullptr;
  if (!connect_to.empty()) {
    connect_list = curl_api().slist_append(nullptr, connect_to.c_str());
    curl_api().easy_setopt(curl, CURLOPT_CONNECT_TO, connect_list);
  }
  curl_slist* headers = nullptr;  // values may be secrets: never logged here
  for (const auto& [name, value] : spec.headers)
    headers = curl_api().slist_append(headers, (name + ": " + value).c_str());
  if (headers) curl_api().easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  std::string body;
  http_common(curl, spec.url, timeout_ms, std::min(timeout_ms, 5000L));
  curl_api().easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_api().easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_api().easy_setopt(curl, CURLOPT_NOPROXY, "*");
  CURLcode rc = curl_api().easy_perform(curl);
  long status = 0;
  curl_api().easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_api().easy_cleanup(curl);
  if (connect_list) curl_api().slist_free_all(connect_list);
  if (headers) curl_api().slist_free_all(headers);
  if (rc != CURLE_OK) return curl_api().easy_strerror(rc);
  if (status != spec.expect_status) {
    // The body usually says why (e.g. "column does not exist"): show its start.
    std::string snippet = body.substr(0, 200);
    for (char& c : snippet)
      if (c == '\n' || c == '\r') c = ' ';
    return "HTTP " + std::to_string(status) + " (expected " + std::to_string(spec.expect_status) + ")" +
           (snippet.empty() ? "" : ": " + snippet);
  }
  if (!spec.expect_body.empty() && body.find(spec.expect_body) == std::string::npos)
    return "HTTP " + std::to_string(status) + " but the body lacks '" + spec.expect_body + "'";
  return "";
}
}  // namespace

ProbeResult probe_health(const config::HealthSpec& spec, const std::function<void(int, const std::string&)>& on_attempt,
                         const std::function<bool()>& should_stop, const std::string& connect_to) {
  ProbeResult res;
  auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  while (true) {
    ++res.attempts;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    res.last = attempt(spec, std::max(200L, static_cast<long>(std::min<long long>(left, 10'000))), connect_to);
    if (res.last.empty()) {
      res.ok = true;
      return res;
    }
    if (on_attempt) on_attempt(res.attempts, res.last);
    auto next = std::chrono::steady_clock::now() + spec.interval;
    if (next >= deadline || (should_stop && should_stop())) return res;
    while (std::chrono::steady_clock::now() < next) {
      if (should_stop && should_stop()) return res;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

std::pair<std::string, int> url_host_port(const std::string& url) {
  CURLU* u = curl_api().url();
  char* host = nullptr;
  char* port = nullptr;
  std::pair<std::string, int> out;
  bool ok = curl_api().url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
            curl_api().url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
            curl_api().url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
  if (ok) out = {host, std::atoi(port)};
  curl_api().free(host);
  curl_api().free(port);
  curl_api().url_cleanup(u);
  if (!ok) throw Error(ErrorKind::Config, "cannot read host and port from health url '" + url + "'");
  return out;
}

}  // namespace ferry::steps
