#include "run/stage_saga.hpp"

#include <optional>

#include "core/error.hpp"
#include "core/interrupt.hpp"

namespace ferry::run {

std::string SagaUnit::run() {
  const auto& spec = m_step->spec();
  Stopwatch sw;
  try {
    std::optional<Watchdog> dog;
    if (spec.timeout && spec.kind != config::StepKind::Run && spec.kind != config::StepKind::Restart)
      dog.emplace(&m_ctx.db, spec.timeout->count());
    return m_step->run(m_ctx);
  } catch (const Error& e) {
    m_ctx.db.rollback_if_open();
    if (spec.timeout && sw.elapsed() >= *spec.timeout)
      throw Error(e.kind(), "timed out after " + format_duration(*spec.timeout) + ": " + e.what());
    throw;
  }
}

std::string StageObserver::before(const SagaStep& s) {
  if (interrupted()) {
    std::string why = "interrupted by " + interrupt_name();
    m_rep.message(report::Level::Error, why);
    return why;
  }
  if (m_ledger.lock_held()) return "";
  m_rep.step_failed(s.name(), std::string("not started: ") + k_lock_lost, Millis(0));
  return k_lock_lost;
}

void StageObserver::started(const SagaStep& s) {
  m_sw = Stopwatch();
  m_rep.step_started(s.name());
}

void StageObserver::finished(const SagaStep& s, const std::string& summary) {
  m_rep.step_finished(s.name(), summary, m_sw.elapsed());
}

void StageObserver::failed(const SagaStep& s, const std::string& e) {
  m_rep.step_failed(s.name(), e, m_sw.elapsed());
  m_sw = Stopwatch();
}

void StageObserver::undone(const SagaStep& s, const std::string& summary) {
  m_rep.step_compensated(s.name(), true, summary, m_sw.elapsed());
  m_sw = Stopwatch();
}

void StageObserver::undo_failed(const SagaStep& s, const std::string& e) {
  m_rep.step_compensated(s.name(), false, e, m_sw.elapsed());
}

}  // namespace ferry::run
