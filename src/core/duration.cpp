#include "core/duration.hpp"

#include <cstdio>
#include <ctime>
#include <random>

namespace ferry {

std::optional<Millis> parse_duration(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 9) return std::nullopt;
  long long n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  if (unit == "ms") return Millis(n);
  if (unit == "s") return Millis(n * 1000);
  if (unit == "m") return Millis(n * 60'000);
  if (unit == "h") return Millis(n * 3'600'000);
  return std::nullopt;
}

std::string format_duration(Millis d) {
  long long ms = d.count();
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lldms", ms);
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", ms / 60'000, (ms / 1000) % 60);
  }
  return buf;
}

std::string now_iso8601() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1'000'000);
  return buf;
}

std::string stamp_id(int hex_digits) {
  std::string t = now_iso8601();
  std::string compact;
  for (char c : t.substr(0, 19))
    if (c != '-' && c != ':') compact.push_back(c);
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%0*x", hex_digits, rd() & ((1u << (4 * hex_digits)) - 1));
  return compact + "Z-" + suffix;
}

}  // namespace ferry
