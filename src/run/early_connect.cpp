#include "run/early_connect.hpp"

#include <system_error>

#include "steps/recovery.hpp"

namespace ferry::run {

EarlyConnection::EarlyConnection(const config::Environment* e) {
  if (!e || e->database.fleet() || !e->database.tunnel.empty()) return;
  const config::Environment& env = *e;
  auto slot = std::make_unique<std::unique_ptr<db::Connection>>();
  try {
    m_thread = std::thread([out = slot.get(), p = steps::connect_params(env, env.database.name)] {
      try {
        *out = std::make_unique<db::Connection>(p);
      } catch (const std::exception&) {  // Session connects again and says why (or waits: --wait-ready)
      }
    });
  } catch (const std::system_error&) {  // no thread: Session connects itself
    return;
  }
  m_env = &env;
  m_conn = std::move(slot);
}

EarlyConnection::~EarlyConnection() {
  if (m_thread.joinable()) m_thread.join();
}

std::unique_ptr<db::Connection> EarlyConnection::take(const config::Environment& env) {
  if (!m_thread.joinable() || m_env != &env) return nullptr;
  m_thread.join();
  return std::move(*m_conn);
}

}  // namespace ferry::run
