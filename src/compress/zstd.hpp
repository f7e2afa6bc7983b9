// Streaming zstd (libzstd), the only user of libzstd: bytes in, bytes out through a sink, in
// bounded buffers (memory stays flat whatever the size). The files are the same as the zstd
// program's (one frame), so `zstd -d` and ferry's restore read them.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

namespace ferry::compress {

using Sink = std::function<void(const char* data, size_t len)>;

// Compresses what is written into one frame. `workers` > 0 compresses on that many threads of
// libzstd's own (as `zstd -T`); 0 compresses on the caller's thread. Throws Error(Internal)
// when libzstd refuses.
class ZstdCompressor {
 public:
  ZstdCompressor(int level, int workers, Sink out);
  ~ZstdCompressor();
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;
  void write(const char* data, size_t len);
  void finish();  // ends the frame: everything written has reached the sink

 private:
  void drive(const char* data, size_t len, int directive);
  struct State;
  std::unique_ptr<State> m;
};

// Decompresses frames written to it. Throws Error(Command) on corrupt input; finish() throws
// when the input ended inside a frame (a truncated file).
class ZstdDecompressor {
 public:
  explicit ZstdDecompressor(Sink out);
  ~ZstdDecompressor();
  ZstdDecompressor(const ZstdDecompressor&) = delete;
  ZstdDecompressor& operator=(const ZstdDecompressor&) = delete;
  void write(const char* data, size_t len);
  void finish();

 private:
  struct State;
  std::unique_ptr<State> m;
};

}  // namespace ferry::compress
