// `kubectl exec -i [--namespace=NS] [--container=C] [--context=X] [--kubeconfig=F] TARGET --
// sh -c SCRIPT`, kubectl running on another transport (ferry's machine). kubectl has no -w/-e:
// the working directory and the environment are handled inside SCRIPT (remote_shell.hpp), the
// environment's values arriving base64-encoded at the head of stdin, never in argv.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "config/model.hpp"
#include "transport/transport.hpp"
#include "transport/via.hpp"
#include "transport/tunnel.hpp"

namespace ferry::transport {

class KubectlTransport : public ViaTransport {
 public:
  KubectlTransport(Transport& via, config::KubectlSpec spec, std::string name);
  CommandResult run(const Command& cmd, const OutputSink& out = nullptr) override;
  std::string describe() const override;
  // kubectl exec cannot set environment variables: with env_names it throws Error(Config).
  std::vector<std::string> command_line(const std::vector<std::string>& argv, const std::vector<std::string>& env_names,
                                        bool stdin_open) const override;

 private:
  config::KubectlSpec m_spec;
  std::string m_name;
};

// `kubectl port-forward --address=127.0.0.1 [flags] TARGET :PORT` kept running (on a thread)
// for the tunnel's life; the local port is the one kubectl prints. Throws
// Error(Transport) naming the target when kubectl ends or prints no port within 30 s.
class KubectlPortForward : public Tunnel {
 public:
  // kubectl runs on this machine (its own LocalTransport: nothing it refers to can go first).
  KubectlPortForward(const config::KubectlSpec& spec, int remote_port);
  ~KubectlPortForward() override;
  int local_port() const override { return m_port; }

 private:
  void close();
  LocalTransport m_local;
  std::mutex m_mu;
  std::condition_variable m_cv;
  std::string m_out;
  int m_port = 0;
  bool m_ended = false;
  std::string m_failure;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

}  // namespace ferry::transport
