// A fleet's schedule (run/fleet_plan.*): canary, waves and failure budget from K or P% (0, 1,
// 100%, rounding, more canary than databases), what a resume keeps of its first run, and the
// exit code the members' outcomes add up to.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.hpp"
#include "run/fleet_plan.hpp"

using namespace ferry;

namespace {

config::Share k(int n) { return {n, false}; }
config::Share pct(int n) { return {n, true}; }

config::FleetSpec spec(config::Share canary, std::optional<config::Share> batch, config::Share budget) {
  config::FleetSpec s;
  s.parallel = 4;
  s.canary = canary;
  s.batch = batch;
  s.max_failures = budget;
  return s;
}

std::vector<std::size_t> first(std::size_t n) {
  std::vector<std::size_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::vector<std::size_t> sizes_of(const run::FleetPlan& p) {
  std::vector<std::size_t> out;
  for (const auto& ph : p.phases) out.push_back(ph.size());
  return out;
}

}  // namespace

TEST(FleetPlanSizes, CountsArePercentagesRoundedCanaryAndBatchUpBudgetDown) {
  auto s = run::fleet_sizes(spec(pct(10), pct(10), pct(10)), 15);  // 1.5 each
  EXPECT_EQ(s.canary, 2);
  EXPECT_EQ(s.batch, 2);
  EXPECT_EQ(s.budget, 1);
  s = run::fleet_sizes(spec(pct(1), pct(1), pct(1)), 1);  // 0.01
  EXPECT_EQ(s.canary, 1) << "a canary of P% > 0 is at least one database";
  EXPECT_EQ(s.batch, 1);
  EXPECT_EQ(s.budget, 0) << "a budget of P% tolerates only whole databases";
  s = run::fleet_sizes(spec(pct(100), pct(100), pct(100)), 30);
  EXPECT_EQ(s.canary, 30);
  EXPECT_EQ(s.batch, 30);
  EXPECT_EQ(s.budget, 30);
  s = run::fleet_sizes(spec(k(0), std::nullopt, pct(0)), 30);
  EXPECT_EQ(s.canary, 0);
  EXPECT_EQ(s.batch, 0) << "no batch: the rest at once";
  EXPECT_EQ(s.budget, 0);
  s = run::fleet_sizes(spec(k(5), k(50), k(9)), 3);
  EXPECT_EQ(s.canary, 3) << "a count larger than the fleet is the fleet";
  EXPECT_EQ(s.batch, 3);
  EXPECT_EQ(s.budget, 3);
  s = run::fleet_sizes(spec(pct(50), pct(10), pct(50)), 0);
  EXPECT_EQ(s.canary, 0);
  EXPECT_EQ(s.budget, 0);
}

TEST(FleetPlanPhases, CanaryAloneThenWavesCoveringEveryDatabaseOnceInOrder) {
  auto p = run::plan_fleet(spec(k(1), pct(10), k(2)), first(30));
  EXPECT_TRUE(p.has_canary);
  EXPECT_EQ(p.budget, 2);
  EXPECT_EQ(p.parallel, 4);
  EXPECT_EQ(sizes_of(p), (std::vector<std::size_t>{1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2}));
  std::vector<std::size_t> flat;
  for (const auto& ph : p.phases) flat.insert(flat.end(), ph.begin(), ph.end());
  EXPECT_EQ(flat, first(30));
}

TEST(FleetPlanPhases, NoCanaryNoBatchIsOneWaveAndNothingIsNoPhase) {
  auto p = run::plan_fleet(spec(k(0), std::nullopt, k(0)), first(7));
  EXPECT_FALSE(p.has_canary);
  EXPECT_EQ(sizes_of(p), (std::vector<std::size_t>{7}));
  EXPECT_TRUE(run::plan_fleet(spec(k(1), k(1), k(0)), first(0)).phases.empty());
  auto all = run::plan_fleet(spec(pct(100), k(2), k(0)), first(5));
  EXPECT_TRUE(all.has_canary);
  EXPECT_EQ(sizes_of(all), (std::vector<std::size_t>{5})) << "a canary of everything leaves no wave";
  auto more = run::plan_fleet(run::FleetSizes{9, 2, 0}, 1, first(4));
  EXPECT_EQ(sizes_of(more), (std::vector<std::size_t>{4})) << "a kept canary larger than what is left";
}

TEST(FleetPlanResume, KeepsTheFirstRunsCanaryBatchAndWhatIsLeftOfItsBudget) {
  run::FleetSizes firstrun{2, 10, 5};
  auto r = run::resumed_sizes(firstrun, 3);
  EXPECT_EQ(r.canary, 2);
  EXPECT_EQ(r.batch, 10);
  EXPECT_EQ(r.budget, 2);
  EXPECT_EQ(run::resumed_sizes(firstrun, 5).budget, 0);
  EXPECT_EQ(run::resumed_sizes(firstrun, 6).budget, 0) << "a spent budget stays spent: never negative";
  EXPECT_EQ(run::resumed_sizes(firstrun, 0).budget, 5);
}

TEST(FleetPlanResume, ANewRunRecordsItsSizesAndAResumeReadsThemNotTheSubsetsPercentages) {
  auto s = spec(pct(10), pct(20), pct(10));
  run::FleetRecord rec;
  rec.members.resize(100);
  auto made = run::invocation_sizes(s, rec, 100, false);
  EXPECT_EQ(made.budget, 10);
  EXPECT_EQ(rec.budget, 10);
  EXPECT_EQ(rec.canary, 10);
  EXPECT_EQ(rec.batch, 20);
  rec.failures = 11;  // the first invocation spent the budget; 30 databases left
  auto resumed = run::invocation_sizes(s, rec, 30, true);
  EXPECT_EQ(resumed.budget, 0) << "10% of the 30 left would be a fresh budget of 3";
  EXPECT_EQ(resumed.canary, 10);
  EXPECT_EQ(resumed.batch, 20);
  EXPECT_EQ(rec.budget, 10) << "the record keeps the whole run's budget";
  rec.failures = 4;
  EXPECT_EQ(run::invocation_sizes(s, rec, 30, true).budget, 6);
  run::FleetRecord old;  // written before the sizes were recorded: those of all its databases
  old.members.resize(50);
  old.failures = 2;
  auto o = run::invocation_sizes(s, old, 30, true);
  EXPECT_EQ(o.canary, 5);
  EXPECT_EQ(o.budget, 3);
}

TEST(FleetPlanExit, OutcomesAddUpToTheStagesExitCode) {
  run::FleetRecord rec;
  for (const char* o : {"ok", "ok", "rolled_back", "refused", "needs_human", "not_started"}) {
    run::MemberResult m;
    m.outcome = o;
    rec.members.push_back(m);
  }
  EXPECT_EQ(run::fleet_exit_code(rec, {0, 1}), 0);
  EXPECT_EQ(run::fleet_exit_code(rec, {0, 2}), 1);
  EXPECT_EQ(run::fleet_exit_code(rec, {0, 3}), 1) << "a refusal after a change is not 'nothing changed'";
  EXPECT_EQ(run::fleet_exit_code(rec, {3}), 3);
  EXPECT_EQ(run::fleet_exit_code(rec, {0, 2, 4}), 2);
  EXPECT_EQ(run::fleet_exit_code(rec, {}), 0);
}
