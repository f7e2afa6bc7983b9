// A stage's playbook steps as the saga (run/saga.hpp) runs them, and the observer that reports
// them. Private to src/run: the runner's StageRunner builds one SagaUnit per step.
#pragma once
#include <memory>
#include <string>

#include "config/model.hpp"
#include "core/duration.hpp"
#include "db/ledger.hpp"
#include "report/reporter.hpp"
#include "run/saga.hpp"
#include "steps/step.hpp"

namespace ferry::run {

inline constexpr const char* k_lock_lost = "ferry's database session was lost, and with it the run's lock";

// A playbook step as the saga runs it: bounded by its timeout (a watchdog cancels the
// statement), its open transaction rolled back when it fails.
class SagaUnit : public SagaStep {
 public:
  SagaUnit(const config::StepSpec& spec, steps::StageContext& ctx) : m_step(steps::make_step(spec)), m_ctx(ctx) {}
  std::string name() const override { return m_step->name(); }
  std::string run() override;
  std::string undo() override { return m_step->undo(m_ctx); }
  bool undo_last() const override { return m_step->undo_last(); }
  bool changes_database() const { return m_step->changes_database(); }

 private:
  std::unique_ptr<steps::Step> m_step;
  steps::StageContext& m_ctx;
};

// Reports the saga's steps; stops it before a step when ferry was interrupted or lost its lock.
class StageObserver : public SagaObserver {
 public:
  StageObserver(report::Reporter& rep, db::Ledger& ledger) : m_rep(rep), m_ledger(ledger) {}
  std::string before(const SagaStep& s) override;
  void started(const SagaStep& s) override;
  void finished(const SagaStep& s, const std::string& summary) override;
  void failed(const SagaStep& s, const std::string& e) override;
  void undone(const SagaStep& s, const std::string& summary) override;
  void undo_failed(const SagaStep& s, const std::string& e) override;
  void restart_clock() { m_sw = Stopwatch(); }

 private:
  report::Reporter& m_rep;
  db::Ledger& m_ledger;
  Stopwatch m_sw;
};

}  // namespace ferry::run
