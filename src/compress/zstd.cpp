#include "compress/zstd.hpp"

#include <zstd.h>

#include <vector>

#include "core/error.hpp"

namespace ferry::compress {

namespace {
size_t check(size_t r, const char* what) {
  if (ZSTD_isError(r)) throw Error(ErrorKind::Internal, std::string(what) + ": " + ZSTD_getErrorName(r));
  return r;
}
}  // namespace

struct ZstdCompressor::State {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> buf = std::vector<char>(ZSTD_CStreamOutSize());
  Sink out;
  ~State() { ZSTD_freeCCtx(cctx); }
};

ZstdCompressor::ZstdCompressor(int level, int workers, Sink out) : m(std::make_unique<State>()) {
  if (!m->cctx) throw Error(ErrorKind::Internal, "zstd: cannot allocate a compression context");
  m->out = std::move(out);
  check(ZSTD_CCtx_setParameter(m->cctx, ZSTD_c_compressionLevel, level), "zstd level");
  check(ZSTD_CCtx_setParameter(m->cctx, ZSTD_c_checksumFlag, 1), "zstd checksum");  // as the zstd program
  // A libzstd built without threads refuses workers: compress on this thread then.
  if (workers > 0 && ZSTD_isError(ZSTD_CCtx_setParameter(m->cctx, ZSTD_c_nbWorkers, workers)))
    ZSTD_CCtx_setParameter(m->cctx, ZSTD_c_nbWorkers, 0);
}

ZstdCompressor::~ZstdCompressor() = default;

void ZstdCompressor::drive(const char* data, size_t len, int directive) {
  ZSTD_inBuffer in{data, len, 0};
  for (;;) {
    ZSTD_outBuffer o{m->buf.data(), m->buf.size(), 0};
    size_t left = check(ZSTD_compressStream2(m->cctx, &o, &in, static_cast<ZSTD_EndDirective>(directive)), "zstd");
    if (o.pos > 0) m->out(m->buf.data(), o.pos);
    if (directive == ZSTD_e_end ? left == 0 : in.pos == in.size) return;
  }
}

void ZstdCompressor::write(const char* data, size_t len) {
  if (len > 0) drive(data, len, ZSTD_e_continue);
}

void ZstdCompressor::finish() { drive(nullptr, 0, ZSTD_e_end); }

struct ZstdDecompressor::State {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  std::vector<char> buf = std::vector<char>(ZSTD_DStreamOutSize());
  Sink out;
  size_t hint = 0;  // 0: the last frame is complete
  bool started = false;
  ~State() { ZSTD_freeDCtx(dctx); }
};

ZstdDecompressor::ZstdDecompressor(Sink out) : m(std::make_unique<State>()) {
  if (!m->dctx) throw Error(ErrorKind::Internal, "zstd: cannot allocate a decompression context");
  m->out = std::move(out);
}

ZstdDecompressor::~ZstdDecompressor() = default;

void ZstdDecompressor::write(const char* data, size_t len) {
  ZSTD_inBuffer in{data, len, 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer o{m->buf.data(), m->buf.size(), 0};
    size_t r = ZSTD_decompressStream(m->dctx, &o, &in);
    if (ZSTD_isError(r)) throw Error(ErrorKind::Command, std::string("zstd: ") + ZSTD_getErrorName(r));
    m->hint = r;
    m->started = true;
    if (o.pos > 0) m->out(m->buf.data(), o.pos);
  }
}

void ZstdDecompressor::finish() {
  // Output the decoder still holds (a full output buffer leaves some behind). Once a frame is
  // whole (hint 0) the decoder waits for the next one: nothing is held then.
  while (m->hint != 0) {
    ZSTD_inBuffer in{nullptr, 0, 0};
    ZSTD_outBuffer o{m->buf.data(), m->buf.size(), 0};
    size_t r = ZSTD_decompressStream(m->dctx, &o, &in);
    if (ZSTD_isError(r)) throw Error(ErrorKind::Command, std::string("zstd: ") + ZSTD_getErrorName(r));
    if (o.pos == 0) break;
    m->hint = r;
    m->out(m->buf.data(), o.pos);
  }
  if (!m->started) throw Error(ErrorKind::Command, "zstd: no data");
  if (m->hint != 0) throw Error(ErrorKind::Command, "zstd: the data ends inside a frame (truncated)");
}

}  // namespace ferry::compress
