// Concrete transports besides local, and their factory.
#pragma once
#include <memory>

#include "config/model.hpp"
#include "transport/transport.hpp"

namespace ferry::transport {

// `ENGINE exec -i ... CONTAINER sh -c QUOTED` run on another transport (local or ssh).
class DockerTransport : public Transport {
 public:
  DockerTransport(Transport& via, config::DockerSpec spec);
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override;

 private:
  Transport& m_via;
  config::DockerSpec m_spec;
};

}  // namespace ferry::transport
