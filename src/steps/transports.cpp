#include "steps/context.hpp"
#include "transport/transports.hpp"

namespace ferry::steps {

transport::Transport& Transports::get(const std::string& name) {
  if (auto it = m_made.find(name); it != m_made.end()) return *it->second;
  auto cit = m_env.connections.find(name);
  if (cit == m_env.connections.end())
    throw Error(ErrorKind::Config, "no connection '" + name + "' in " + m_env.file);
  const auto& c = cit->second;
  std::unique_ptr<transport::Transport> t;
  switch (c.type) {
    case config::ConnectionType::Local: t = std::make_unique<transport::LocalTransport>(); break;
    case config::ConnectionType::Docker:
      t = std::make_unique<transport::DockerTransport>(get(c.docker.via), c.docker);
      break;
    case config::ConnectionType::Ssh:
      throw Error(ErrorKind::Transport,
                  "connection '" + name + "' is ssh, which this build of ferry cannot reach yet",
                  "run ferry on the host itself, or use a local or docker connection");
  }
  auto& ref = *t;
  m_made[name] = std::move(t);
  return ref;
}

}  // namespace ferry::steps
