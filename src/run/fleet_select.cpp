#include "run/fleet_select.hpp"

#include <algorithm>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/text.hpp"

namespace ferry::run {

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

Shard parse_shard(const std::string& text) {
  auto slash = text.find('/');
  auto number = [](const std::string& s) {
    if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return -1;
    return std::stoi(s);
  };
  Shard sh;
  if (slash != std::string::npos) {
    sh.index = number(text.substr(0, slash));
    sh.count = number(text.substr(slash + 1));
  }
  if (slash == std::string::npos || sh.index < 0 || sh.count < 1 || sh.index >= sh.count)
    throw Error(ErrorKind::Config, "--shard must be I/N with 0 <= I < N (e.g. 0/3), found '" + text + "'");
  return sh;
}

std::vector<std::string> select_members(const std::vector<std::string>& members, const std::vector<std::string>& only,
                                        const std::vector<std::string>& exclude, const std::string& shard,
                                        std::vector<std::string>& warnings) {
  std::set<std::string> known(members.begin(), members.end());
  for (const auto& n : only)
    if (!known.count(n)) {
      std::string hint = closest(n, members);
      throw Error(ErrorKind::Config, "--only '" + n + "' is not a database of the fleet" +
                                         (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
  for (const auto& n : exclude)
    if (!known.count(n)) warnings.push_back("--exclude '" + n + "' is not a database of the fleet");
  std::set<std::string> keep(only.begin(), only.end()), drop(exclude.begin(), exclude.end());
  std::optional<Shard> sh;
  if (!shard.empty()) sh = parse_shard(shard);
  std::vector<std::string> out;
  for (const auto& m : members) {
    if (!only.empty() && !keep.count(m)) continue;
    if (drop.count(m)) continue;
    if (sh && fnv1a64(m) % static_cast<std::uint64_t>(sh->count) != static_cast<std::uint64_t>(sh->index)) continue;
    out.push_back(m);
  }
  return out;
}

}  // namespace ferry::run
