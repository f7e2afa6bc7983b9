// A listener on 127.0.0.1 that carries each connection made to it to a place only a connection
// reaches (ssh direct-tcpip, kubectl port-forward). Closed by its destructor.
#pragma once

namespace ferry::transport {

class Tunnel {
 public:
  virtual ~Tunnel() = default;
  virtual int local_port() const = 0;
};

}  // namespace ferry::transport
