#include "run/early_connect.hpp"

#include <system_error>

#include "run/target.hpp"

namespace ferry::run {

EarlyConnection::EarlyConnection(const config::Environment* env) {
  if (!env || env->database.fleet() || !env->database.tunnel.empty()) return;
  try {
    // `env` and this object outlive the thread: the destructor joins it (and nothing moves this).
    m_thread = std::thread([this, env] {
      try {
        m_opened.conn = connect(*env).conn;
      } catch (...) {
        m_opened.error = std::current_exception();
      }
    });
  } catch (const std::system_error&) {  // no thread: Session connects itself
    return;
  }
  m_env = env;
}

EarlyConnection::~EarlyConnection() {
  if (m_thread.joinable()) m_thread.join();
}

OpenedConnection EarlyConnection::take(const config::Environment& env) {
  if (!m_thread.joinable() || m_env != &env) return {};
  m_thread.join();
  return std::move(m_opened);
}

}  // namespace ferry::run
