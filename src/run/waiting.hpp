// Bounded waits for unattended runs: a database that is still starting (--wait-ready) and a
// run lock held by another ferry (--wait-lock). Both say once what they wait for, then how
// long they have waited, and give up when the wait ends or a signal arrives.
#pragma once
#include <string>

#include "core/duration.hpp"
#include "db/ledger.hpp"
#include "report/reporter.hpp"
#include "run/target.hpp"

namespace ferry::run {

// True for a connection failure that a server still starting up gives: refused, "the database
// system is starting up", "not yet accepting connections", a socket not there yet, a timeout.
bool is_not_ready_error(const std::string& message);

// connect(), retried with backoff (250 ms doubling to 5 s) while the failure is one of
// is_not_ready_error(), for up to `wait_ready` (0: one attempt). Throws the last error.
DbLink connect_when_ready(const config::Environment& env, steps::Transports* transports, Millis wait_ready,
                          report::Reporter& rep);

// Ledger::try_lock(), retried every 500 ms for up to `wait_lock` (0: one attempt), naming the
// holder once and then the time waited every 10 s. False when the wait ended (or a signal came).
bool lock_waiting(db::Ledger& ledger, const std::string& env, Millis wait_lock, report::Reporter& rep);

// "environment 'ENV' is locked by HOLDER" (with how long ferry waited, if it did).
std::string locked_message(db::Ledger& ledger, const std::string& env, Millis waited);

}  // namespace ferry::run
