// The connections of one environment by name, created on first use and kept for the whole run.
// The one place that maps a connection's config type to its Transport class (registry.cpp).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "config/model.hpp"
#include "transport/ssh.hpp"
#include "transport/transport.hpp"
#include "transport/tunnel.hpp"

namespace ferry::transport {

// Set by a fleet's parent in each child's environment: "CONNECTION@HOST:PORT=LOCAL_PORT".
inline constexpr const char* k_shared_tunnel_env = "FERRY_SHARED_TUNNEL";

class Transports {
 public:
  explicit Transports(const config::Environment& env) : m_env(env) {}
  // Throws Error(Config) for a name the environment does not define. Creating a transport
  // never connects: an ssh session opens on its first command.
  Transport& get(const std::string& name);
  // The one SSH session of an ssh connection (opened on first use, kept for the run): tunnels.
  std::shared_ptr<SshSession> ssh_session(const std::string& name);
  // A listener on 127.0.0.1 reaching host:port as the connection `name` sees it: an ssh
  // direct-tcpip tunnel, or kubectl port-forward to its target's `port` (host unused).
  // A fleet's children get the one tunnel their parent opened (k_shared_tunnel_env): no
  // session or port-forward of their own when it names this connection, host and port.
  std::unique_ptr<Tunnel> tunnel(const std::string& name, const std::string& host, int port);
  // The value of k_shared_tunnel_env that hands `local_port` (a tunnel to host:port through
  // connection `name`, kept open by this process) to child processes.
  static std::string shared_tunnel(const std::string& name, const std::string& host, int port, int local_port);
  const config::Environment& env() const { return m_env; }

 private:
  std::unique_ptr<Transport> make(const config::Connection& c);
  const config::Environment& m_env;
  std::map<std::string, std::unique_ptr<Transport>> m_made;
  std::map<std::string, std::shared_ptr<SshSession>> m_sessions;
};

}  // namespace ferry::transport
