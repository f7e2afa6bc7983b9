// The saga unit (run/saga.*): steps run in order, the ones that ran are undone newest first,
// the first failed undo stops the undo and names what remains. A recording step that fails on
// demand stands for a playbook step; no database (models: Sqitch deploy/revert, ninja's
// Builder tests).
#include "run/saga.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ferry::run;

namespace {

struct Log {
  std::vector<std::string> lines;
};

// Records what it is asked to do; fails its run or its undo on demand. `partial`: it commits
// part of its work, then fails (like `migrate` with transaction: each).
class Recording : public SagaStep {
 public:
  Recording(std::string name, Log& log) : m_name(std::move(name)), m_log(log) {}
  Recording& fail_run() {
    m_fail_run = true;
    return *this;
  }
  Recording& fail_undo() {
    m_fail_undo = true;
    return *this;
  }
  Recording& last() {
    m_last = true;
    return *this;
  }
  bool undo_last() const override { return m_last; }
  Recording& partial() {
    m_partial = m_fail_run = true;
    return *this;
  }
  std::string name() const override { return m_name; }
  std::string run() override {
    if (m_partial) m_log.lines.push_back("commit part of " + m_name);
    if (m_fail_run) throw std::runtime_error(m_name + " broke");
    m_log.lines.push_back("run " + m_name);
    return m_name + " done";
  }
  std::string undo() override {
    if (m_fail_undo) throw std::runtime_error("undo of " + m_name + " broke");
    m_log.lines.push_back("undo " + m_name);
    return "undid " + m_name;
  }

 private:
  std::string m_name;
  Log& m_log;
  bool m_fail_run = false;
  bool m_fail_undo = false;
  bool m_partial = false;
  bool m_last = false;
};

// Records the events; stops before the step named `stop_before` (an interruption).
class Observer : public SagaObserver {
 public:
  std::string stop_before;
  std::vector<std::string> events;
  std::string before(const SagaStep& s) override { return s.name() == stop_before ? "interrupted by SIGINT" : ""; }
  void started(const SagaStep& s) override { events.push_back("started " + s.name()); }
  void finished(const SagaStep& s, const std::string& summary) override {
    events.push_back("finished " + s.name() + ": " + summary);
  }
  void failed(const SagaStep& s, const std::string& e) override { events.push_back("failed " + s.name() + ": " + e); }
  void undone(const SagaStep& s, const std::string& summary) override {
    events.push_back("undone " + s.name() + ": " + summary);
  }
  void undo_failed(const SagaStep& s, const std::string& e) override {
    events.push_back("undo failed " + s.name() + ": " + e);
  }
};

std::vector<SagaStep*> ptrs(std::vector<Recording>& steps) {
  std::vector<SagaStep*> out;
  for (auto& s : steps) out.push_back(&s);
  return out;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST(Saga, AllStepsRunInOrderAndNothingIsUndone) {
  Log log;
  std::vector<Recording> steps{{"backup", log}, {"migrate", log}, {"restart", log}};
  Observer obs;
  Saga saga(obs);
  EXPECT_EQ(saga.run(ptrs(steps)), "");
  EXPECT_EQ(log.lines, (Lines{"run backup", "run migrate", "run restart"}));
  EXPECT_EQ(obs.events, (Lines{"started backup", "finished backup: backup done", "started migrate",
                               "finished migrate: migrate done", "started restart", "finished restart: restart done"}));
  EXPECT_EQ(saga.started().size(), 3u);
}

TEST(Saga, EveryOrderingAndEveryFailurePointUndoesWhatRanNewestFirst) {
  std::vector<std::string> names{"a", "b", "c"};
  std::sort(names.begin(), names.end());
  do {
    for (size_t fail_at = 0; fail_at < names.size(); ++fail_at) {
      SCOPED_TRACE(names[0] + names[1] + names[2] + " failing at " + std::to_string(fail_at));
      Log log;
      std::vector<Recording> steps;
      for (const auto& n : names) steps.emplace_back(n, log);
      steps[fail_at].fail_run();
      Observer obs;
      Saga saga(obs);
      EXPECT_EQ(saga.run(ptrs(steps)), names[fail_at] + " broke");
      Lines want;
      for (size_t i = 0; i < fail_at; ++i) want.push_back("run " + names[i]);
      EXPECT_EQ(log.lines, want);
      auto res = saga.undo();
      EXPECT_TRUE(res.ok);
      EXPECT_TRUE(res.remaining.empty());
      // The failed step is undone too (first), then the earlier ones, newest first.
      want.push_back("undo " + names[fail_at]);
      for (size_t i = fail_at; i-- > 0;) want.push_back("undo " + names[i]);
      EXPECT_EQ(log.lines, want);
      // Nothing after the failed step ran.
      for (size_t i = fail_at + 1; i < names.size(); ++i)
        EXPECT_EQ(std::count(obs.events.begin(), obs.events.end(), "started " + names[i]), 0);
    }
  } while (std::next_permutation(names.begin(), names.end()));
}

TEST(Saga, FailureAtTheFirstStepUndoesOnlyThatStep) {
  Log log;
  std::vector<Recording> steps{{"backup", log}, {"migrate", log}};
  steps[0].fail_run();
  Observer obs;
  Saga saga(obs);
  EXPECT_EQ(saga.run(ptrs(steps)), "backup broke");
  saga.undo();
  EXPECT_EQ(log.lines, (Lines{"undo backup"}));
  EXPECT_EQ(obs.events.back(), "undone backup: undid backup");
}

TEST(Saga, AFailedUndoStopsAndNamesTheStepsNotUndone) {
  Log log;
  std::vector<Recording> steps{{"backup", log}, {"migrate", log}, {"restart", log}, {"health", log}};
  steps[1].fail_undo();
  steps[3].fail_run();
  Observer obs;
  Saga saga(obs);
  EXPECT_EQ(saga.run(ptrs(steps)), "health broke");
  auto res = saga.undo();
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.remaining, (Lines{"migrate", "backup"}));
  EXPECT_EQ(log.lines, (Lines{"run backup", "run migrate", "run restart", "undo health", "undo restart"}));
  EXPECT_EQ(obs.events.back(), "undo failed migrate: undo of migrate broke");
}

TEST(Saga, AFailedUndoOfTheFailedStepItselfLeavesEverythingEarlier) {
  Log log;
  std::vector<Recording> steps{{"backup", log}, {"migrate", log}};
  steps[1].fail_run().fail_undo();
  Observer obs;
  Saga saga(obs);
  saga.run(ptrs(steps));
  auto res = saga.undo();
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.remaining, (Lines{"migrate", "backup"}));
  EXPECT_EQ(log.lines, (Lines{"run backup"}));
}

TEST(Saga, AnInterruptionBetweenStepsStopsBeforeTheNextAndUndoesWhatRan) {
  Log log;
  std::vector<Recording> steps{{"backup", log}, {"migrate", log}, {"restart", log}};
  Observer obs;
  obs.stop_before = "restart";
  Saga saga(obs);
  EXPECT_EQ(saga.run(ptrs(steps)), "interrupted by SIGINT");
  EXPECT_EQ(saga.started().size(), 2u);
  EXPECT_EQ(std::count(obs.events.begin(), obs.events.end(), "started restart"), 0);
  saga.undo();
  EXPECT_EQ(log.lines, (Lines{"run backup", "run migrate", "undo migrate", "undo backup"}));
}

TEST(Saga, AnInterruptionBeforeTheFirstStepRunsAndUndoesNothing) {
  Log log;
  std::vector<Recording> steps{{"backup", log}};
  Observer obs;
  obs.stop_before = "backup";
  Saga saga(obs);
  EXPECT_EQ(saga.run(ptrs(steps)), "interrupted by SIGINT");
  auto res = saga.undo();
  EXPECT_TRUE(res.ok);
  EXPECT_TRUE(log.lines.empty());
  EXPECT_TRUE(obs.events.empty());
}

TEST(Saga, AStepThatFailsAfterCommittingPartOfItsWorkIsUndoneToo) {
  Log log;
  std::vector<Recording> steps{{"backup", log}, {"migrate", log}, {"verify", log}};
  steps[1].partial();
  Observer obs;
  Saga saga(obs);
  EXPECT_EQ(saga.run(ptrs(steps)), "migrate broke");
  saga.undo();
  EXPECT_EQ(log.lines, (Lines{"run backup", "commit part of migrate", "undo migrate", "undo backup"}));
}

TEST(Saga, UndoCanRunAgainAfterARestore) {
  Log log;
  std::vector<Recording> steps{{"migrate", log}, {"restart", log}, {"health", log}};
  steps[2].fail_run();
  Observer obs;
  Saga saga(obs);
  saga.run(ptrs(steps));
  saga.undo();
  saga.undo();
  EXPECT_EQ(log.lines, (Lines{"run migrate", "run restart", "undo health", "undo restart", "undo migrate",
                              "undo health", "undo restart", "undo migrate"}));
}

TEST(Saga, AnUndoThatAsksToComeLastFollowsTheOthers) {
  Log log;
  std::vector<Recording> steps{
      {"backup", log}, {"migrate", log}, {"restart a", log}, {"restart b", log}, {"health", log}};
  steps[2].last();
  steps[3].last();
  steps[4].fail_run();
  Observer obs;
  Saga saga(obs);
  saga.run(ptrs(steps));
  EXPECT_TRUE(saga.undo().ok);
  EXPECT_EQ(log.lines, (Lines{"run backup", "run migrate", "run restart a", "run restart b", "undo health",
                              "undo migrate", "undo backup", "undo restart b", "undo restart a"}));
}

TEST(Saga, AFailedUndoBeforeTheLastOnesLeavesThemNamedAsRemaining) {
  Log log;
  std::vector<Recording> steps{{"migrate", log}, {"restart", log}, {"health", log}};
  steps[0].fail_undo();
  steps[1].last();
  steps[2].fail_run();
  Observer obs;
  Saga saga(obs);
  saga.run(ptrs(steps));
  auto res = saga.undo();
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.remaining, (Lines{"migrate", "restart"}));
  EXPECT_EQ(log.lines, (Lines{"run migrate", "run restart", "undo health"}));
}
