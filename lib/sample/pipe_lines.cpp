// Streaming line reader over read(2), with zstd detection.
#include "sample/pipe_lines.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "core/error.h"

namespace mds {

struct PipeLineReader::Zstd {
  ZSTD_DCtx* ctx = ZSTD_createDCtx();
  ~Zstd() { ZSTD_freeDCtx(ctx); }
};

bool is_streaming_input(const std::string& path) {
  if (path == "-" || path.empty()) return true;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;  // let the regular reader report the error
  return !S_ISREG(st.st_mode);
}

PipeLineReader::PipeLineReader(const std::string& path) : path_(path.empty() ? "-" : path), raw_(1 << 16) {
  if (path_ == "-") {
    fd_ = 0;
    return;
  }
  fd_ = ::open(path_.c_str(), O_RDONLY);
  if (fd_ < 0) throw_runtime("{}: cannot open for reading: {}", path_, std::strerror(errno));
  owned_ = true;
}

PipeLineReader::~PipeLineReader() {
  if (owned_) ::close(fd_);
}

size_t PipeLineReader::read_some(char* dst, size_t n) {
  for (;;) {
    const ssize_t got = ::read(fd_, dst, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) throw_runtime("{}: read error: {}", display_name(), std::strerror(errno));
  }
}

bool PipeLineReader::fill() {
  if (eof_) return false;
  size_t len = 0;
  if (!sniffed_) {
    // The first 4 bytes decide between text and zstd.
    while (len < 4) {
      const size_t got = read_some(raw_.data() + len, raw_.size() - len);
      if (got == 0) break;
      len += got;
    }
    uint32_t magic = 0;
    if (len >= 4) std::memcpy(&magic, raw_.data(), 4);
    compressed_ = magic == 0xFD2FB528u || (magic & 0xFFFFFFF0u) == 0x184D2A50u;  // frame or skippable frame
    if (compressed_) zstd_ = std::make_unique<Zstd>();
    sniffed_ = true;
  } else {
    len = read_some(raw_.data(), raw_.size());
  }
  if (len == 0) {
    eof_ = true;
    return false;
  }
  if (!compressed_) {
    buf_.append(raw_.data(), len);
    return true;
  }
  ZSTD_inBuffer in{raw_.data(), len, 0};
  std::vector<char> out(1 << 17);
  while (in.pos < in.size) {
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    const size_t rc = ZSTD_decompressStream(zstd_->ctx, &o, &in);
    if (ZSTD_isError(rc))
      throw_bad_input("{}: zstd decompression failed: {}", display_name(), ZSTD_getErrorName(rc));
    buf_.append(out.data(), o.pos);
  }
  return true;
}

bool PipeLineReader::next(std::string& line) {
  for (;;) {
    const size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      line.assign(buf_, pos_, nl - pos_);
      pos_ = nl + 1;
      ++line_number_;
      return true;
    }
    buf_.erase(0, pos_);  // keep only the partial line
    pos_ = 0;
    if (!fill()) {
      if (buf_.empty()) return false;
      line.swap(buf_);
      buf_.clear();
      ++line_number_;
      return true;
    }
  }
}

}  // namespace mds
