// SshTunnel: a local port whose connections are carried through direct-tcpip channels of a
// shared SshSession, by one pump thread per tunnel (every libssh2 call under the session's mutex).
#include <arpa/inet.h>
#include <fcntl.h>
#include <libssh2.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "transport/ssh.hpp"

namespace ferry::transport {

SshTunnel::SshTunnel(std::shared_ptr<SshSession> session, std::string host, int port)
    : m_session(std::move(session)), m_host(std::move(host)), m_port(port) {
  m_listen = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only: nobody else reaches the tunnel
  a.sin_port = 0;
  if (bind(m_listen, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(m_listen, 16) != 0)
    throw Error(ErrorKind::Transport, std::string("cannot open a local tunnel port: ") + strerror(errno));
  socklen_t len = sizeof a;
  getsockname(m_listen, reinterpret_cast<sockaddr*>(&a), &len);
  m_local_port = ntohs(a.sin_port);
  m_thread = std::thread([this] { pump(); });
}

SshTunnel::~SshTunnel() {
  m_stop = true;
  if (m_thread.joinable()) m_thread.join();
  if (m_listen >= 0) close(m_listen);
}

namespace {

// One client connection to the tunnel and its channel.
struct TunnelLink {
  int fd;
  LIBSSH2_CHANNEL* ch;
  std::string to_remote;  // read from the local client, not yet written to the channel
  bool local_closed = false;
};

// A direct-tcpip channel to host:port, retried while libssh2 says EAGAIN (at most 1000 times);
// nullptr when it cannot be opened or the tunnel is stopping.
LIBSSH2_CHANNEL* open_direct_channel(SshSession& s, const std::string& host, int port, int local_port,
                                     const std::atomic<bool>& stop) {
  LIBSSH2_CHANNEL* ch = nullptr;
  for (int i = 0; i < 1000 && !ch && !stop; ++i) {
    {
      std::lock_guard<std::mutex> lock(s.mutex());
      ch = libssh2_channel_direct_tcpip_ex(s.raw(), host.c_str(), port, "127.0.0.1", local_port);
      if (!ch && libssh2_session_last_errno(s.raw()) != LIBSSH2_ERROR_EAGAIN) break;
    }
    if (!ch) s.wait(20);
  }
  return ch;
}

// What the local clients sent (fds[i + 1] is links[i]'s), kept for the channels.
void read_from_clients(std::vector<TunnelLink>& links, const std::vector<pollfd>& fds, std::vector<char>& buf) {
  for (size_t i = 0; i < links.size(); ++i) {
    auto& l = links[i];
    if (!l.local_closed && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(l.fd, buf.data(), buf.size());
      if (n > 0)
        l.to_remote.append(buf.data(), static_cast<size_t>(n));
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        l.local_closed = true;
    }
  }
}

// Writes all of data to the (non-blocking) client socket, waiting while it is full; stops on an error.
void write_to_client(int fd, const char* data, size_t size) {
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fd, data + off, size - off);
    if (w > 0)
      off += static_cast<size_t>(w);
    else if (errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 50);
    } else
      break;
  }
}

// Under the session's mutex: moves bytes both ways, and closes the link when either end is
// done; true when it was closed (its fd is then -1).
bool carry(TunnelLink& l, std::vector<char>& buf) {
  while (!l.to_remote.empty()) {
    ssize_t w = libssh2_channel_write(l.ch, l.to_remote.data(), l.to_remote.size());
    if (w <= 0) break;
    l.to_remote.erase(0, static_cast<size_t>(w));
  }
  while (true) {
    ssize_t n = libssh2_channel_read(l.ch, buf.data(), buf.size());
    if (n <= 0) break;
    write_to_client(l.fd, buf.data(), static_cast<size_t>(n));
  }
  if (libssh2_channel_eof(l.ch) || (l.local_closed && l.to_remote.empty())) {
    libssh2_channel_free(l.ch);
    close(l.fd);
    l.fd = -1;
    return true;
  }
  return false;
}

}  // namespace

void SshTunnel::pump() {
  std::vector<TunnelLink> links;
  std::vector<char> buf(1 << 16);
  auto& s = *m_session;
  while (!m_stop) {
    std::vector<pollfd> fds;
    fds.push_back({m_listen, POLLIN, 0});
    for (const auto& l : links) fds.push_back({l.fd, static_cast<short>(l.local_closed ? 0 : POLLIN), 0});
    poll(fds.data(), fds.size(), 5);
    if (fds[0].revents & POLLIN) {
      int fd = accept(m_listen, nullptr, nullptr);
      if (fd >= 0) {
        LIBSSH2_CHANNEL* ch = open_direct_channel(s, m_host, m_port, m_local_port, m_stop);
        if (!ch) {
          close(fd);
        } else {
          fcntl(fd, F_SETFL, O_NONBLOCK);
          links.push_back({fd, ch, {}, false});
        }
      }
    }
    read_from_clients(links, fds, buf);
    bool dead_any = false;
    {
      std::lock_guard<std::mutex> lock(s.mutex());
      for (auto& l : links) dead_any = carry(l, buf) || dead_any;
    }
    if (dead_any)
      links.erase(std::remove_if(links.begin(), links.end(), [](const TunnelLink& l) { return l.fd < 0; }),
                  links.end());
  }
  std::lock_guard<std::mutex> lock(s.mutex());
  for (auto& l : links) {
    libssh2_channel_free(l.ch);
    close(l.fd);
  }
}
}  // namespace ferry::transport
