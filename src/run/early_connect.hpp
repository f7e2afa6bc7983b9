// The first stage's connection, opened on a thread while `ferry run` reads its migrations and
// opens its journal: the two overlap instead of adding up (bench/README.md, W2). It is the
// connection Session would open (connect(), the same parameters and errors); a fleet, or an
// environment reached through an SSH tunnel, gets none. Opening it sends no query: nothing is
// read or written before Session takes the run's lock. (Filling the new backend's catalog caches
// there, by planning the baseline's description, was measured and taken out: bench/README.md.)
#pragma once
#include <exception>
#include <memory>
#include <thread>

#include "config/model.hpp"
#include "db/pg.hpp"

namespace ferry::run {

// What the thread got: the connection, or the error of that attempt (Session counts it as its
// first attempt: it tries again only while --wait-ready waits for a server still starting, so a
// wrong password is one failed login, and an unreachable host one connect_timeout). Both empty:
// no attempt was made.
struct OpenedConnection {
  std::unique_ptr<db::Connection> conn;
  std::exception_ptr error;
};

class EarlyConnection {
 public:
  // nullptr: none (take() gives nothing).
  explicit EarlyConnection(const config::Environment* env);
  EarlyConnection(const EarlyConnection&) = delete;
  EarlyConnection& operator=(const EarlyConnection&) = delete;
  // Waits for the thread, and closes a connection not taken. When ferry stops on an error before
  // the stage (a migration refused at load), it waits here for the attempt to end: libpq's own
  // limits (name resolution, then connect_timeout for each address).
  ~EarlyConnection();
  // For `env` only (a stage on another environment gets nothing); waits for the thread.
  OpenedConnection take(const config::Environment& env);

 private:
  const config::Environment* m_env = nullptr;
  OpenedConnection m_opened;  // written by the thread, read after join
  std::thread m_thread;
};

}  // namespace ferry::run
