// The base of a transport whose commands run through another transport's shell (docker exec,
// kubectl exec): it keeps that transport and answers via() with it; the subclass says how to
// wrap a command (run, describe, command_line).
#pragma once
#include "transport/transport.hpp"

namespace ferry::transport {

class ViaTransport : public Transport {
 public:
  explicit ViaTransport(Transport& via) : m_via(via) {}
  Transport* via() override { return &m_via; }

 protected:
  Transport& m_via;
};

}  // namespace ferry::transport
