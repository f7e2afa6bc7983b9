// write_all (core/fd_io.*): the whole buffer reaches a pipe's reader, and a reader gone is
// EPIPE (ferry ignores SIGPIPE), not a signal and not a spin.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <string>
#include <thread>

#include "core/fd_io.hpp"

TEST(FdIo, AllBytesReachTheReaderInOrder) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string data(1 << 20, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  EXPECT_TRUE(ferry::write_all(p[1], data.data(), data.size()));
  close(p[1]);
  reader.join();
  close(p[0]);
  EXPECT_TRUE(got == data);
}

TEST(FdIo, AReaderGoneIsEpipe) {
  auto old = std::signal(SIGPIPE, SIG_IGN);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  close(p[0]);
  errno = 0;
  EXPECT_FALSE(ferry::write_all(p[1], "abc", 3));
  EXPECT_EQ(errno, EPIPE);
  close(p[1]);
  std::signal(SIGPIPE, old);
}
