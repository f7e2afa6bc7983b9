// `kubectl exec -i [--namespace=NS] [--container=C] [--context=X] [--kubeconfig=F] TARGET --
// sh -c SCRIPT`, kubectl running on another transport (ferry's machine). kubectl has no -w/-e:
// the working directory and the environment are handled inside SCRIPT (remote_shell.hpp), the
// environment's values arriving base64-encoded at the head of stdin, never in argv.
#pragma once
#include "config/model.hpp"
#include "transport/transport.hpp"

namespace ferry::transport {

class KubectlTransport : public Transport {
 public:
  KubectlTransport(Transport& via, config::KubectlSpec spec, std::string name);
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override;
  Transport* via() override { return &m_via; }
  // kubectl exec cannot set environment variables: with env_names it throws Error(Config).
  std::vector<std::string> command_line(const std::vector<std::string>& argv, const std::vector<std::string>& env_names,
                                        bool stdin_open) const override;

 private:
  // kubectl's own failure (not the command's) as a clear message, or "".
  std::string kubectl_error(const CommandResult& r) const;
  Transport& m_via;
  config::KubectlSpec m_spec;
  std::string m_name;
};

}  // namespace ferry::transport
