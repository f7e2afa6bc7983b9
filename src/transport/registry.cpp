#include "transport/registry.hpp"

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

std::unique_ptr<Tunnel> Transports::tunnel(const std::string& name, const std::string& host, int port) {
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
