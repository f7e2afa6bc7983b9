#include "config/database_url.hpp"

#include <cctype>

#include "core/error.hpp"

namespace ferry::config {

namespace {

[[noreturn]] void bad(const std::string& why) {
  throw Error(ErrorKind::Config, "'url' is not a usable PostgreSQL URI: " + why);
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) bad("a '%' escape is cut short");
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) bad("a '%' escape is not two hex digits");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

int number(const std::string& s, const std::string& what, int lo, int hi) {
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
    bad(what + " must be a number");
  int v = std::stoi(s);
  if (v < lo || v > hi) bad(what + " must be from " + std::to_string(lo) + " to " + std::to_string(hi));
  return v;
}

void read_host_port(const std::string& spec, UrlParts& p) {
  if (spec.find(',') != std::string::npos) bad("several hosts are not supported; name one");
  std::string host = spec, port;
  if (!spec.empty() && spec[0] == '[') {  // [IPv6]:port
    auto close = spec.find(']');
    if (close == std::string::npos) bad("an IPv6 address lacks its ']'");
    host = spec.substr(1, close - 1);
    if (close + 1 < spec.size()) {
      if (spec[close + 1] != ':') bad("unexpected text after the IPv6 address");
      port = spec.substr(close + 2);
    }
  } else if (auto colon = spec.rfind(':'); colon != std::string::npos) {
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  p.host = decode(host);
  if (!port.empty()) p.port = number(port, "the port", 1, 65535);
}

void read_query(const std::string& query, UrlParts& p) {
  size_t start = 0;
  while (start <= query.size()) {
    auto amp = query.find('&', start);
    std::string pair = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    start = amp == std::string::npos ? query.size() + 1 : amp + 1;
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string::npos) bad("parameter '" + decode(pair) + "' has no value");
    std::string key = decode(pair.substr(0, eq)), value = decode(pair.substr(eq + 1));
    if (key == "sslmode")
      p.sslmode = value;
    else if (key == "connect_timeout")
      p.connect_timeout_s = number(value, "connect_timeout", 1, 3600);
    else if (key == "application_name")
      continue;  // ferry names its own sessions
    else
      bad("parameter '" + key +
          "' is not supported (sslmode and connect_timeout are; other settings have keys of their own)");
  }
}

}  // namespace

UrlParts parse_database_url(const std::string& url) {
  std::string rest;
  for (const char* scheme : {"postgresql://", "postgres://"})
    if (url.rfind(scheme, 0) == 0) rest = url.substr(std::string(scheme).size());
  if (rest.empty()) bad("it must start with postgresql:// or postgres:// and name a database");
  UrlParts p;
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    p.user = decode(userinfo.substr(0, colon));
    if (colon != std::string::npos) p.password = decode(userinfo.substr(colon + 1));
  }
  read_host_port(rest, p);
  p.name = decode(path);
  if (p.name.empty()) bad("it names no database (postgresql://HOST/NAME)");
  read_query(query, p);
  return p;
}

}  // namespace ferry::config
