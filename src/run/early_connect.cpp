#include "run/early_connect.hpp"

#include <system_error>

#include "run/target.hpp"

namespace ferry::run {

EarlyConnection::EarlyConnection(const config::Environment* env) {
  if (!env || env->database.fleet() || !env->database.tunnel.empty()) return;
  auto opened = std::make_unique<OpenedConnection>();
  try {
    // `env` outlives the thread: the destructor joins it.
    m_thread = std::thread([out = opened.get(), env] {
      try {
        out->conn = connect(*env).conn;
      } catch (...) {
        out->error = std::current_exception();
      }
    });
  } catch (const std::system_error&) {  // no thread: Session connects itself
    return;
  }
  m_env = env;
  m_opened = std::move(opened);
}

EarlyConnection::~EarlyConnection() {
  if (m_thread.joinable()) m_thread.join();
}

OpenedConnection EarlyConnection::take(const config::Environment& env) {
  if (!m_thread.joinable() || m_env != &env) return {};
  m_thread.join();
  return std::move(*m_opened);
}

}  // namespace ferry::run
