#include "run/session.hpp"

#include "core/interrupt.hpp"
#include "run/runner.hpp"
#include "run/waiting.hpp"

namespace ferry::run {

const char* const k_lock_held_hint =
    "wait for that run to finish (--wait-lock DURATION waits for it); ferry never breaks another run's lock";

Session::Session(const config::Environment& env, steps::Transports& transports, const std::string& run_id,
                 SessionWaits waits, report::Reporter& rep, OpenedConnection opened)
    : m_env(env), m_run_id(run_id) {
  Stopwatch sw;
  if (opened.error) {  // that was the first attempt: again only while --wait-ready waits for the server
    try {
      std::rethrow_exception(opened.error);
    } catch (const Error& e) {
      if (waits.ready <= Millis(0) || !is_not_ready_error(e.what())) throw;
    }
  }
  if (opened.conn)
    m_link.conn = std::move(opened.conn);
  else
    m_link = connect_when_ready(env, &transports, waits.ready, rep);
  auto ledger = std::make_unique<db::Ledger>(*m_link.conn);
  if (!lock_waiting(*ledger, env.name, waits.lock, rep))
    throw Error(ErrorKind::Refused, locked_message(*ledger, env.name, waits.lock), k_lock_held_hint);
  m_ledger = std::move(ledger);  // from here on, the destructor releases the lock
  set_cancel_target(m_link.conn.get());
  m_ledger->ensure_schema();
  rep.step_finished("lock", "held by run " + run_id, sw.elapsed());
  report_abandoned_runs(*m_ledger, rep, env.name);
}

Session::~Session() {
  set_cancel_target(nullptr);
  if (m_ledger) m_ledger->unlock();
}

void Session::record(const std::string& what, const std::string& version_before, const std::string& command_line) {
  db::RunRecord rec;
  rec.id = m_run_id;
  rec.playbook = what;
  rec.environment = m_env.name;
  rec.operator_name = operator_name();
  rec.host = host_name();
  rec.version_before = version_before;
  rec.command = command_line;
  m_ledger->insert_run(rec);
}

}  // namespace ferry::run
