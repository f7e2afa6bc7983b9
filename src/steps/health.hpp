// HTTP health probes (libcurl is used here only).
#pragma once
#include <functional>
#include <string>

#include "config/model.hpp"

namespace ferry::steps {

struct ProbeResult {
  bool ok = false;
  int attempts = 0;
  std::string last;  // "HTTP 503", "connection refused", "body lacks '\"status\":\"ok\"'"
};

// Probes until the status (and body) match or spec.timeout passes; `on_attempt` is told each
// failed attempt. Stops early when `should_stop` returns true.
// `connect_to` ("HOST:PORT:127.0.0.1:LOCALPORT") sends the request through a tunnel while the
// URL and Host header stay as written.
ProbeResult probe_health(const config::HealthSpec& spec, const std::function<void(int, const std::string&)>& on_attempt,
                         const std::function<bool()>& should_stop, const std::string& connect_to = "");

// Host and port of a URL (port defaulted from the scheme). Throws Error(Config) when unparsable.
std::pair<std::string, int> url_host_port(const std::string& url);

}  // namespace ferry::steps
