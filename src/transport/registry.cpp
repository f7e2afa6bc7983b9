#include "transport/registry.hpp"

#include <cstdlib>
#include <string_view>

#include "transport/docker.hpp"
#include "transport/kubectl.hpp"

namespace ferry::transport {

// Adding a connection type: its config struct (config/model.hpp, read in config/loader.cpp),
// its class in one file here, and one case below (and in tunnel() if it can carry one).
std::unique_ptr<Transport> Transports::make(const config::Connection& c) {
  switch (c.type) {
    case config::ConnectionType::Local:
      return std::make_unique<LocalTransport>();
    case config::ConnectionType::Ssh:
      return std::make_unique<SshTransport>([this, name = c.name] { return ssh_session(name); }, c.ssh);
    case config::ConnectionType::Docker:
      return std::make_unique<DockerTransport>(get(c.docker.via), c.docker);
    case config::ConnectionType::Kubectl:
      return std::make_unique<KubectlTransport>(get("local"), c.kubectl, c.name);
  }
  throw Error(ErrorKind::Internal, "unknown connection type of '" + c.name + "'");
}

namespace {

// A tunnel another process keeps open: only its local port.
class ForwardedTunnel : public Tunnel {
 public:
  explicit ForwardedTunnel(int port) : m_port(port) {}
  int local_port() const override { return m_port; }

 private:
  int m_port;
};

std::string tunnel_key(const std::string& name, const std::string& host, int port) {
  return name + "@" + host + ":" + std::to_string(port) + "=";
}

// The local port of the parent's tunnel to exactly this connection, host and port; 0 if none.
int inherited_tunnel(const std::string& name, const std::string& host, int port) {
  const char* v = std::getenv(k_shared_tunnel_env);
  std::string key = tunnel_key(name, host, port);
  if (!v || std::string_view(v).substr(0, key.size()) != key) return 0;
  int local = std::atoi(v + key.size());
  return local > 0 && local < 65536 ? local : 0;
}

}  // namespace

std::string Transports::shared_tunnel(const std::string& name, const std::string& host, int port, int local_port) {
  return tunnel_key(name, host, port) + std::to_string(local_port);
}

std::unique_ptr<Tunnel> Transports::tunnel(const std::string& name, const std::string& host, int port) {
  if (int local = inherited_tunnel(name, host, port)) return std::make_unique<ForwardedTunnel>(local);
  const auto& c = m_env.connections.at(name);
  switch (c.type) {
    case config::ConnectionType::Ssh:
      return std::make_unique<SshTunnel>(ssh_session(name), host, port);
    case config::ConnectionType::Kubectl:
      return std::make_unique<KubectlPortForward>(c.kubectl, port);
    default:
      throw Error(ErrorKind::Config, "connection '" + name + "' cannot carry a tunnel (ssh or kubectl can)");
  }
}

Transport& Transports::get(const std::string& name) {
  if (auto it = m_made.find(name); it != m_made.end()) return *it->second;
  auto cit = m_env.connections.find(name);
  if (cit == m_env.connections.end()) throw Error(ErrorKind::Config, "no connection '" + name + "' in " + m_env.file);
  auto t = make(cit->second);
  auto& ref = *t;
  m_made[name] = std::move(t);
  return ref;
}

std::shared_ptr<SshSession> Transports::ssh_session(const std::string& name) {
  if (auto it = m_sessions.find(name); it != m_sessions.end()) return it->second;
  const auto& c = m_env.connections.at(name);
  if (c.type != config::ConnectionType::Ssh) throw Error(ErrorKind::Config, "connection '" + name + "' is not ssh");
  auto s = std::make_shared<SshSession>(c.ssh);
  m_sessions[name] = s;
  return s;
}

}  // namespace ferry::transport
