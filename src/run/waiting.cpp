#include "run/waiting.hpp"

#include <algorithm>
#include <thread>

#include "core/interrupt.hpp"

namespace ferry::run {

namespace {

// Sleeps `d` in short slices; false when a signal arrived meanwhile.
bool sleep_unless_interrupted(Millis d) {
  Stopwatch sw;
  while (sw.elapsed() < d) {
    if (interrupted()) return false;
    std::this_thread::sleep_for(std::min(Millis(100), d - sw.elapsed()));
  }
  return !interrupted();
}

}  // namespace

bool is_not_ready_error(const std::string& message) {
  for (const char* s : {"starting up", "not yet accepting connections", "Connection refused",
                        "No such file or directory", "timeout expired", "57P03"})
    if (message.find(s) != std::string::npos) return true;
  return false;
}

DbLink connect_when_ready(const config::Environment& env, steps::Transports* transports, Millis wait_ready,
                          report::Reporter& rep) {
  Stopwatch sw;
  Millis backoff(250);
  bool said = false;
  Millis next_progress(10000);
  for (;;) {
    try {
      auto link = connect(env, transports);
      if (said) rep.message(report::Level::Info, "database ready after " + format_duration(sw.elapsed()));
      return link;
    } catch (const Error& e) {
      Millis left = wait_ready - sw.elapsed();
      if (!is_not_ready_error(e.what()) || left <= Millis(0) || interrupted()) throw;
      if (!said)
        rep.message(report::Level::Info, "database not ready (" + std::string(e.what()) + "); retrying for up to " +
                                             format_duration(wait_ready) + " (--wait-ready)");
      else if (sw.elapsed() >= next_progress) {
        rep.message(report::Level::Info, "still waiting for the database: " + format_duration(sw.elapsed()) + " of " +
                                             format_duration(wait_ready));
        next_progress += Millis(10000);
      }
      said = true;
      if (!sleep_unless_interrupted(std::min(backoff, left))) throw;
      backoff = std::min(backoff * 2, Millis(5000));
    }
  }
}

std::string locked_message(db::Ledger& ledger, const std::string& env, Millis waited) {
  auto holder = ledger.lock_holder();
  return "environment '" + env + "' is locked by " + (holder ? holder->describe() : std::string("another session")) +
         (waited > Millis(0) ? " (waited " + format_duration(waited) + ")" : "");
}

bool lock_waiting(db::Ledger& ledger, const std::string& env, Millis wait_lock, report::Reporter& rep) {
  Stopwatch sw;
  Millis next_progress(10000);
  bool said = false;
  while (!ledger.try_lock()) {
    if (sw.elapsed() >= wait_lock || interrupted()) return false;
    if (!said) {
      rep.message(report::Level::Info, locked_message(ledger, env, Millis(0)) + "; waiting up to " +
                                           format_duration(wait_lock) + " (--wait-lock)");
      said = true;
    } else if (sw.elapsed() >= next_progress) {
      rep.message(report::Level::Info, "still waiting for the lock on '" + env + "': " + format_duration(sw.elapsed()) +
                                           " of " + format_duration(wait_lock));
      next_progress += Millis(10000);
    }
    if (!sleep_unless_interrupted(std::min(Millis(500), wait_lock - sw.elapsed() + Millis(1)))) return false;
  }
  if (said) rep.message(report::Level::Info, "lock on '" + env + "' taken after " + format_duration(sw.elapsed()));
  return true;
}

}  // namespace ferry::run
