// `database.url`: a libpq connection URI (postgresql://user:password@host:port/name?sslmode=...)
// read into the same fields as the separate keys, so that the password goes where every
// password goes (PGPASSWORD, the connection's parameters) and never into an argv.
#pragma once
#include <optional>
#include <string>

namespace ferry::config {

struct UrlParts {
  std::string user, host, name;
  std::optional<std::string> password;
  std::optional<int> port;
  std::optional<std::string> sslmode;
  std::optional<int> connect_timeout_s;
};

// Throws Error(Config) with a message that never quotes the URL (it may hold a password).
UrlParts parse_database_url(const std::string& url);

}  // namespace ferry::config
