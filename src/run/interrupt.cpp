#include "run/interrupt.hpp"

#include <csignal>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ferry::run {

namespace {
std::atomic<int> g_signal{0};
std::atomic<const db::Connection*> g_target{nullptr};

void on_signal(int sig) {
  if (g_signal.load() != 0) {
    // A second signal while compensating is ignored: stopping half-way through a rollback
    // would be worse than finishing it.
    return;
  }
  g_signal.store(sig);
  if (auto* c = g_target.load()) c->cancel();
}
}  // namespace

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_signal.load() != 0; }
std::string interrupt_name() {
  int s = g_signal.load();
  return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "signal " + std::to_string(s);
}
void clear_interrupt() { g_signal.store(0); }
void set_cancel_target(const db::Connection* conn) { g_target.store(conn); }

struct Watchdog::State {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::atomic<bool> fired{false};
  std::thread thread;
};

Watchdog::Watchdog(const db::Connection* conn, long long ms) : m_state(new State) {
  if (ms <= 0) return;
  m_state->thread = std::thread([s = m_state, conn, ms] {
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->cv.wait_for(lock, std::chrono::milliseconds(ms), [s] { return s->done; })) {
      s->fired = true;
      if (conn) conn->cancel();
    }
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(m_state->mu);
    m_state->done = true;
  }
  m_state->cv.notify_all();
  if (m_state->thread.joinable()) m_state->thread.join();
  delete m_state;
}

bool Watchdog::fired() const { return m_state->fired; }

}  // namespace ferry::run
