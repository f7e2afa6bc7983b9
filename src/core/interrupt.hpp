// SIGINT/SIGTERM handling and step timeouts. A signal sets a flag and cancels the statement
// running on the registered database connection, so a long migration stops at once and the
// Runner compensates. The handler only writes the signal's number to a pipe; a dedicated thread
// reads it, sets the flag and calls the target's cancel() (pqxx's cancel_query), so no
// async-signal-safety limits apply there. This is the one piece of process-wide mutable state
// in ferry: a signal has nowhere else to look.
#pragma once
#include <string>

namespace ferry {

// What a signal or a watchdog cancels: the statement running on ferry's database connection
// (db::Connection implements it with pqxx's cancel_query). Called from another thread.
class Cancellable {
 public:
  virtual ~Cancellable() = default;
  virtual void cancel() const = 0;
};

void install_signal_handlers();
bool interrupted();            // a signal arrived
std::string interrupt_name();  // "SIGTERM"
// The stop was taken (a rollback starts): clears interrupted(), and every later SIGINT/SIGTERM
// of this process is ignored, so a second Ctrl-C cannot cut the rollback half-way.
void take_interrupt();
// The connection whose statement a signal cancels (nullptr: none). After it returns, the signal
// thread no longer uses the previous target: it may be destroyed.
void set_cancel_target(const Cancellable* target);

// Cancels the registered connection's statement after `ms` unless disarmed first.
class Watchdog {
 public:
  Watchdog(const Cancellable* target, long long ms);
  ~Watchdog();

 private:
  struct State;
  State* m_state;
};

}  // namespace ferry
