// Which databases of a fleet a run takes (run/fleet_select.*): --shard I/N by FNV-1a of the name
// (stable, disjoint, covering), --only and --exclude, and the shard's parsing.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.hpp"
#include "run/fleet_select.hpp"

using namespace ferry;

namespace {

std::vector<std::string> tenants(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("tenant_" + std::to_string(i));
  return out;
}

std::vector<std::string> shard(const std::vector<std::string>& members, const std::string& which) {
  std::vector<std::string> warnings;
  auto out = run::select_members(members, {}, {}, which, warnings);
  EXPECT_TRUE(warnings.empty());
  return out;
}

}  // namespace

TEST(FleetSelect, Fnv1aIsTheStandardSixtyFourBitHash) {
  // Published FNV-1a 64 test vectors: the shard of a name never depends on ferry's version.
  EXPECT_EQ(run::fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(run::fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(run::fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(FleetSelect, ShardsAreDisjointAndCoverEveryMemberExactlyOnce) {
  auto members = tenants(1000);
  for (int n : {1, 2, 3, 7, 16}) {
    SCOPED_TRACE("N=" + std::to_string(n));
    std::map<std::string, int> seen;
    size_t smallest = members.size();
    for (int i = 0; i < n; ++i) {
      auto part = shard(members, std::to_string(i) + "/" + std::to_string(n));
      smallest = std::min(smallest, part.size());
      for (const auto& m : part) ++seen[m];
    }
    EXPECT_EQ(seen.size(), members.size());
    for (const auto& [m, count] : seen) EXPECT_EQ(count, 1) << m;
    if (n > 1) {
      EXPECT_GT(smallest, members.size() / n / 2) << "a shard far below its share";
    }
  }
}

TEST(FleetSelect, AShardDependsOnlyOnTheNameNotOnTheOtherMembersOrTheirOrder) {
  auto members = tenants(200);
  auto part = shard(members, "1/3");
  std::vector<std::string> reversed(members.rbegin(), members.rend());
  reversed.push_back("tenant_new");  // a member added later moves nobody else
  auto again = shard(reversed, "1/3");
  std::set<std::string> a(part.begin(), part.end()), b(again.begin(), again.end());
  b.erase("tenant_new");
  EXPECT_EQ(a, b);
  EXPECT_EQ(shard(members, "1/3"), part) << "the same call gives the same members, in the fleet's order";
  for (const auto& m : part) EXPECT_EQ(run::fnv1a64(m) % 3, 1u) << m;
}

TEST(FleetSelect, ShardTextMustBeIOfNWithIBelowN) {
  EXPECT_EQ(run::parse_shard("0/1").count, 1);
  EXPECT_EQ(run::parse_shard("2/3").index, 2);
  for (const char* bad : {"3/3", "1/0", "-1/3", "1", "/3", "1/", "a/b", "1/3/4", " 1/3", "1/9999999"}) {
    SCOPED_TRACE(bad);
    try {
      run::parse_shard(bad);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find("--shard must be I/N"), std::string::npos) << e.what();
    }
  }
}

TEST(FleetSelect, OnlyExcludeAndShardCombineInTheFleetsOrder) {
  std::vector<std::string> members = {"a", "b", "c", "d"}, warnings;
  EXPECT_EQ(run::select_members(members, {"d", "b"}, {}, "", warnings), (std::vector<std::string>{"b", "d"}));
  EXPECT_EQ(run::select_members(members, {}, {"a", "zz"}, "", warnings), (std::vector<std::string>{"b", "c", "d"}));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("'zz'"), std::string::npos) << "an unknown --exclude is a warning";
  auto only_shard = run::select_members(members, {"a", "b", "c"}, {"b"}, "0/1", warnings);
  EXPECT_EQ(only_shard, (std::vector<std::string>{"a", "c"}));
  try {
    run::select_members(members, {"bb"}, {}, "", warnings);
    ADD_FAILURE() << "an unknown --only was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("did you mean 'b'"), std::string::npos) << e.what();
  }
}
