// Which databases of a fleet a run takes: --only, --exclude and --shard I/N.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::run {

// 64-bit FNV-1a of the name's bytes: the shard of a database is fnv1a64(name) % N. Stable
// across machines, versions and the fleet's other members (nothing else goes in).
std::uint64_t fnv1a64(std::string_view bytes);

struct Shard {
  int index = 0;
  int count = 1;
};
// "I/N" with 0 <= I < N; throws Error(Config) otherwise.
Shard parse_shard(const std::string& text);

// `members` (in order) kept by --only (every name must be a member), --exclude (a name that is
// not a member is a warning) and --shard ("" = all). Throws Error(Config) for an unknown --only.
std::vector<std::string> select_members(const std::vector<std::string>& members, const std::vector<std::string>& only,
                                        const std::vector<std::string>& exclude, const std::string& shard,
                                        std::vector<std::string>& warnings);

}  // namespace ferry::run
