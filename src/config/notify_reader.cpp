#include "config/notify_reader.hpp"

#include <algorithm>
#include <cctype>

namespace ferry::config {

namespace {

const std::vector<std::string> k_outcomes = {"success", "failure",     "succeeded",      "failed",
                                             "refused", "rolled_back", "needs_attention"};

bool is_http_url(const std::string& url) {
  std::string lower;
  for (char c : url.substr(0, 8)) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return lower.rfind("http://", 0) == 0 || lower.rfind("https://", 0) == 0;
}

bool is_header_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Webhook read_webhook(const Reader& r, const YAML::Node& n) {
  const std::string what = "a notify webhook";
  r.expect_map(n, what, {"url", "on", "timeout", "retries", "headers"});
  r.require(n, what, "url");
  Webhook w;
  w.mark = r.mark(n);
  w.url = r.str(n["url"], "url");
  if (!is_http_url(w.url))
    r.fail(n["url"], "'url' must be an http:// or https:// address, found " + Reader::describe(n["url"]));
  if (n["on"]) {
    w.on = r.str_list(n["on"], "on");
    for (size_t i = 0; i < w.on.size(); ++i) {
      if (std::find(k_outcomes.begin(), k_outcomes.end(), w.on[i]) != k_outcomes.end()) continue;
      std::string list;
      for (const auto& o : k_outcomes) list += (list.empty() ? "" : ", ") + o;
      r.fail(n["on"][i], "'on' must list outcomes among " + list + ", found " + Reader::describe(n["on"][i]));
    }
  }
  w.timeout = r.duration_or(n, "timeout", w.timeout);
  if (w.timeout.count() < 100) r.fail(n["timeout"], "'timeout' must be at least 100ms");
  w.retries = r.int_or(n, "retries", w.retries, 0, 10);
  w.headers = read_headers(r, n["headers"]);
  return w;
}

}  // namespace

std::map<std::string, std::string> read_headers(const Reader& r, const YAML::Node& h) {
  std::map<std::string, std::string> out;
  if (!h || h.IsNull()) return out;
  if (!h.IsMap()) r.fail(h, "'headers' must be a mapping, found " + Reader::describe(h));
  for (auto it = h.begin(); it != h.end(); ++it) {
    std::string name = it->first.IsScalar() ? it->first.Scalar() : "";
    if (!is_header_name(name)) r.fail(it->first, "a header name must be letters, digits, '-' and '_'");
    std::string value = r.str(it->second, name);
    if (value.find_first_of("\r\n") != std::string::npos) r.fail(it->second, "a header value must be one line");
    out[name] = value;
  }
  return out;
}

std::vector<Webhook> read_notify(const Reader& r, const YAML::Node& n) {
  std::vector<Webhook> out;
  if (!n || n.IsNull()) return out;
  if (!n.IsSequence()) r.fail(n, "'notify' must be a list of webhooks, found " + Reader::describe(n));
  for (const auto& item : n) out.push_back(read_webhook(r, item));
  return out;
}

}  // namespace ferry::config
