#include "core/interrupt.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

namespace ferry {

namespace {
std::atomic<int> g_signal{0};
std::atomic<bool> g_taken{false};  // take_interrupt(): signals are ignored from then on
std::mutex g_target_mu;  // the signal thread cancels while the main thread may clear the target
const Cancellable* g_target = nullptr;
int g_pipe[2] = {-1, -1};  // the handler writes the signal's number; the signal thread reads it

// The whole handler: one write(2), async-signal-safe. Whichever thread the kernel picks, the
// signal thread below does the work, where locks and libpqxx calls are allowed.
void on_signal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] auto n = write(g_pipe[1], &b, 1);
  errno = saved;
}

void signal_thread() {
  unsigned char b = 0;
  for (;;) {
    ssize_t n = read(g_pipe[0], &b, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n != 1) return;
    // A second signal while compensating is ignored: stopping half-way through a rollback
    // would be worse than finishing it.
    int expected = 0;
    if (g_taken.load() || !g_signal.compare_exchange_strong(expected, b)) continue;
    std::lock_guard<std::mutex> lock(g_target_mu);
    if (g_target) g_target->cancel();  // pqxx::connection::cancel_query()
  }
}
}  // namespace

void install_signal_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (pipe2(g_pipe, O_CLOEXEC) != 0) return;
    std::thread(signal_thread).detach();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  });
  // A parent that spawned ferry with these blocked (a fleet, so that a stop cannot kill a member
  // half-started) left them pending until now: the handler takes them from here on.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
}

bool interrupted() { return g_signal.load() != 0; }
std::string interrupt_name() {
  int s = g_signal.load();
  return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "signal " + std::to_string(s);
}
void take_interrupt() {
  g_taken.store(true);
  g_signal.store(0);
}
void set_cancel_target(const Cancellable* target) {
  std::lock_guard<std::mutex> lock(g_target_mu);
  g_target = target;
}
struct Watchdog::State {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread thread;
};

Watchdog::Watchdog(const Cancellable* conn, long long ms) : m_state(new State) {
  if (ms <= 0) return;
  m_state->thread = std::thread([s = m_state, conn, ms] {
    std::unique_lock<std::mutex> lock(s->mu);
    if (!s->cv.wait_for(lock, std::chrono::milliseconds(ms), [s] { return s->done; }) && conn) conn->cancel();
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

}  // namespace ferry
