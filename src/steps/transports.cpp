#include "steps/context.hpp"
#include "transport/transports.hpp"

namespace ferry::steps {

transport::Transport& Transports::get(const std::string& name) {
  if (auto it = m_made.find(name); it != m_made.end()) return *it->second;
  auto cit = m_env.connections.find(name);
  if (cit == m_env.connections.end()) throw Error(ErrorKind::Config, "no connection '" + name + "' in " + m_env.file);
  const auto& c = cit->second;
  std::unique_ptr<transport::Transport> t;
  switch (c.type) {
    case config::ConnectionType::Local:
      t = std::make_unique<transport::LocalTransport>();
      break;
    case config::ConnectionType::Docker:
      t = std::make_unique<transport::DockerTransport>(get(c.docker.via), c.docker);
      break;
    case config::ConnectionType::Ssh:
      t = std::make_unique<transport::SshTransport>(ssh_session(name));
      break;
  }
  auto& ref = *t;
  m_made[name] = std::move(t);
  return ref;
}

std::shared_ptr<transport::SshSession> Transports::ssh_session(const std::string& name) {
  if (auto it = m_sessions.find(name); it != m_sessions.end()) return it->second;
  const auto& c = m_env.connections.at(name);
  if (c.type != config::ConnectionType::Ssh) throw Error(ErrorKind::Config, "connection '" + name + "' is not ssh");
  auto s = std::make_shared<transport::SshSession>(c.ssh);
  m_sessions[name] = s;
  return s;
}

}  // namespace ferry::steps
