// SSH (libssh2 is used here only): one session per host for the whole run, every command a
// channel on it; direct-tcpip tunnels for libpq and health probes. libssh2 sessions are not
// thread-safe, so every libssh2 call goes through SshSession::call() under one mutex, in
// non-blocking mode (a tunnel's pump thread and the main thread share the session).
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/model.hpp"
#include "transport/transport.hpp"
#include "transport/tunnel.hpp"

struct _LIBSSH2_SESSION;

namespace ferry::transport {

class SshSession {
 public:
  // Connects, checks the host key, authenticates. Throws Error(Transport) with a message that
  // names user@host:port and, for host keys, the fingerprint and known_hosts file. Connection
  // failures are retried with backoff; host key and authentication failures never are.
  explicit SshSession(const config::SshSpec& spec);
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  std::string describe() const { return m_describe; }
  _LIBSSH2_SESSION* raw() { return m_session; }
  std::mutex& mutex() { return m_mu; }
  // Waits until the socket is ready in the direction libssh2 is blocked on (at most ms).
  void wait(int ms = 100);
  void keepalive();
  int socket() const { return m_sock; }
  std::string last_error();

  static int handshakes();  // in this process: the benchmark counts one per host

 private:
  void connect_once(const config::SshSpec& spec);
  int m_sock = -1;
  _LIBSSH2_SESSION* m_session = nullptr;
  std::string m_describe;
  std::mutex m_mu;
  std::chrono::steady_clock::time_point m_last_keepalive;
};

class SshTransport : public Transport {
 public:
  explicit SshTransport(std::shared_ptr<SshSession> session)
      : m_session(std::move(session)), m_describe("ssh " + m_session->describe()) {}
  // Connects on first use (through `open`), so building a command line never connects.
  SshTransport(std::function<std::shared_ptr<SshSession>()> open, const config::SshSpec& spec)
      : m_open(std::move(open)),
        m_describe("ssh " + (spec.user.empty() ? "" : spec.user + "@") + spec.host + ":" + std::to_string(spec.port)) {}
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override { return m_describe; }

 private:
  std::function<std::shared_ptr<SshSession>()> m_open;
  std::shared_ptr<SshSession> m_session;
  std::string m_describe;
};

// Listens on 127.0.0.1 (an ephemeral port, loopback only) and carries every connection made
// to it through a direct-tcpip channel to host:port as seen from the SSH server.
class SshTunnel : public Tunnel {
 public:
  SshTunnel(std::shared_ptr<SshSession> session, std::string host, int port);
  ~SshTunnel() override;
  int local_port() const override { return m_local_port; }

 private:
  void pump();
  std::shared_ptr<SshSession> m_session;
  std::string m_host;
  int m_port;
  int m_listen = -1;
  int m_local_port = 0;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace ferry::transport
