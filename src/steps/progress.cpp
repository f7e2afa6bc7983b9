#include "steps/progress.hpp"

#include <cstdio>

namespace ferry::steps {

std::string human_size(long long n) {
  char buf[32];
  if (n < 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f KB", n / 1024.0);
  else if (n < 1024LL * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.1f MB", n / 1048576.0);
  else
    std::snprintf(buf, sizeof buf, "%.2f GB", n / 1073741824.0);
  return buf;
}

std::string progress_text(Millis elapsed, long long bytes, long long expected, const std::string& items) {
  std::string s;
  if (bytes >= 0) s = human_size(bytes) + (expected > 0 ? " of ~" + human_size(expected) : "");
  if (!items.empty()) s += (s.empty() ? "" : ", ") + items;
  s += (s.empty() ? "" : ", ") + format_duration(elapsed) + " elapsed";
  if (bytes > 0 && expected > bytes) {
    auto left = Millis(static_cast<long long>(static_cast<double>(elapsed.count()) * (expected - bytes) / bytes));
    s += ", about " + format_duration(left) + " left";
  }
  return s;
}

}  // namespace ferry::steps
