// The first stage's connection, opened on a thread while `ferry run` reads its migrations and
// opens its journal: the two overlap instead of adding up (bench/README.md, W2). It is the
// connection Session would open (the same parameters); when it failed, or the environment is a
// fleet or reached through an SSH tunnel, take() gives nothing and Session connects as before,
// retrying (--wait-ready) and saying why. Opening it sends no query: nothing is read or
// written before Session takes the run's lock. (Filling the new backend's catalog caches there,
// by planning the baseline's description, was measured and taken out: bench/README.md.)
#pragma once
#include <memory>
#include <thread>

#include "config/model.hpp"
#include "db/pg.hpp"

namespace ferry::run {

class EarlyConnection {
 public:
  // nullptr: none (take() gives nothing).
  explicit EarlyConnection(const config::Environment* env);
  EarlyConnection(const EarlyConnection&) = delete;
  EarlyConnection& operator=(const EarlyConnection&) = delete;
  // Waits for the thread, and closes a connection not taken. The wait is the connection's own
  // (connect_timeout at most): ferry never exits while a thread is inside libpq.
  ~EarlyConnection();
  // For `env` only (a stage on another environment gets nothing); waits for the thread.
  std::unique_ptr<db::Connection> take(const config::Environment& env);

 private:
  const config::Environment* m_env = nullptr;
  std::unique_ptr<std::unique_ptr<db::Connection>> m_conn;  // written by the thread, read after join
  std::thread m_thread;
};

}  // namespace ferry::run
