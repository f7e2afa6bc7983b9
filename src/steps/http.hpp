// The settings every HTTP request ferry makes shares (health probes, webhooks): one place for
// the protocol restriction, so neither can be pointed at file://, ftp://, ... by a URL or redirect.
#pragma once

#include "steps/curl_api.hpp"

#include <string>

namespace ferry::steps {

inline void http_common(CURL* curl, const std::string& url, long timeout_ms, long connect_timeout_ms) {
  curl_api().easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_api().easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_api().easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_api().easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // http and https only, for the request and any redirect
  curl_api().easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_api().easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

}  // namespace ferry::steps
