// `ENGINE exec -i ... CONTAINER sh -c QUOTED` run on another transport (local, ssh, ...).
#pragma once
#include "config/model.hpp"
#include "transport/transport.hpp"
#include "transport/via.hpp"

namespace ferry::transport {

class DockerTransport : public ViaTransport {
 public:
  DockerTransport(Transport& via, config::DockerSpec spec);
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override;
  std::vector<std::string> command_line(const std::vector<std::string>& argv, const std::vector<std::string>& env_names,
                                        bool stdin_open) const override;

 private:
  config::DockerSpec m_spec;
};

}  // namespace ferry::transport
