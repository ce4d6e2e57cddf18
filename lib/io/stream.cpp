// Implementation of the file/stdin streams: zstd sniffing, line splitting and
// atomic output. See stream.h.
#include "io/stream.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <zstd.h>

#include "core/error.h"

namespace mds {

namespace {
constexpr uint32_t kZstdMagic = 0xFD2FB528u;
bool is_zstd_start(const char* p, size_t n) {
  if (n < 4) return false;
  uint32_t m;
  std::memcpy(&m, p, 4);
  // Real frames or skippable frames (0x184D2A50..5F) both mean zstd input.
  return m == kZstdMagic || (m & 0xFFFFFFF0u) == 0x184D2A50u;
}
}  // namespace

// A file descriptor, not stdio: fread would wait for a full buffer (or the
// end of input) before returning, which stalls a pipe that delivers lines
// one at a time (mds-sample answering as its input arrives).
InputFile::InputFile(const std::string& path) : path_(path) {
  if (path == "-" || path.empty()) {
    fd_ = STDIN_FILENO;
    path_ = "-";
  } else {
    do fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) throw_error(ExitCode::runtime, "{}: cannot open for reading: {}", path, std::strerror(errno));
    owned_ = true;
  }
}

InputFile::~InputFile() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

std::string InputFile::display_name() const { return path_ == "-" ? "<stdin>" : path_; }

size_t InputFile::read(void* dst, size_t n) {
  if (n == 0) return 0;
  for (;;) {
    const ssize_t got = ::read(fd_, dst, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) throw_error(ExitCode::runtime, "{}: read error: {}", display_name(), std::strerror(errno));
  }
}

std::vector<uint8_t> read_all_bytes(const std::string& path) {
  InputFile in(path);
  std::vector<uint8_t> out;
  size_t chunk = 1 << 20;
  for (;;) {
    size_t old = out.size();
    out.resize(old + chunk);
    size_t got = in.read(out.data() + old, chunk);
    out.resize(old + got);
    if (got == 0) break;
  }
  return out;
}

struct LineReader::ZstdState {
  ZSTD_DCtx* ctx = nullptr;
  ~ZstdState() { ZSTD_freeDCtx(ctx); }
};

LineReader::LineReader(const std::string& path) : input_(path), raw_(1 << 20) {}
LineReader::~LineReader() = default;

bool LineReader::fill() {
  // Drop consumed bytes, keep the partial line.
  if (pos_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  if (!sniffed_) {
    // The zstd magic needs 4 bytes; a pipe may deliver fewer at first.
    raw_len_ = 0;
    for (;;) {
      const size_t got = input_.read(raw_.data() + raw_len_, raw_.size() - raw_len_);
      raw_len_ += got;
      if (got == 0 || raw_len_ >= 4) break;
    }
    raw_pos_ = 0;
    raw_eof_ = raw_len_ == 0;
    compressed_ = is_zstd_start(raw_.data(), raw_len_);
    sniffed_ = true;
    if (compressed_) {
      zstd_ = std::make_unique<ZstdState>();
      zstd_->ctx = ZSTD_createDCtx();
    }
  }
  if (!compressed_) {
    if (raw_pos_ < raw_len_) {
      buffer_.insert(buffer_.end(), raw_.data() + raw_pos_, raw_.data() + raw_len_);
      raw_pos_ = raw_len_ = 0;
      return true;
    }
    if (raw_eof_) return false;
    size_t got = input_.read(raw_.data(), raw_.size());
    if (got == 0) { raw_eof_ = true; return false; }
    buffer_.insert(buffer_.end(), raw_.data(), raw_.data() + got);
    return true;
  }
  // Compressed: decompress until some output appears or input ends.
  std::vector<char> out(1 << 20);
  for (;;) {
    if (raw_pos_ == raw_len_) {
      if (raw_eof_) return false;
      raw_len_ = input_.read(raw_.data(), raw_.size());
      raw_pos_ = 0;
      if (raw_len_ == 0) { raw_eof_ = true; return false; }
    }
    ZSTD_inBuffer in{raw_.data(), raw_len_, raw_pos_};
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    size_t rc = ZSTD_decompressStream(zstd_->ctx, &o, &in);
    if (ZSTD_isError(rc))
      throw_bad_input("{}: zstd decompression failed near compressed byte {}: {}", input_.display_name(), in.pos,
                      ZSTD_getErrorName(rc));
    raw_pos_ = in.pos;
    if (o.pos > 0) {
      buffer_.insert(buffer_.end(), out.data(), out.data() + o.pos);
      return true;
    }
  }
}

bool LineReader::next(std::string& line) {
  for (;;) {
    const char* begin = buffer_.data() + pos_;
    size_t avail = buffer_.size() - pos_;
    const void* nl = avail ? std::memchr(begin, '\n', avail) : nullptr;
    if (nl) {
      size_t len = static_cast<const char*>(nl) - begin;
      line.assign(begin, len);
      pos_ += len + 1;
      ++line_number_;
      return true;
    }
    if (!fill()) {
      if (buffer_.size() > pos_) {
        line.assign(buffer_.data() + pos_, buffer_.size() - pos_);
        pos_ = buffer_.size();
        ++line_number_;
        return true;
      }
      return false;
    }
  }
}

OutputFile::OutputFile(const std::string& path) : path_(path.empty() ? "-" : path) {
  if (path_ == "-") {
    file_ = stdout;
    return;
  }
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) throw_error(ExitCode::runtime, "{}: cannot create temporary file {}: {}", path_, temp_path_, std::strerror(errno));
}

OutputFile::~OutputFile() {
  if (path_ == "-") {
    std::fflush(stdout);
    return;
  }
  if (!committed_ && file_) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void OutputFile::write(const void* data, size_t n) {
  if (n && std::fwrite(data, 1, n, file_) != n)
    throw_error(ExitCode::runtime, "{}: write failed: {}", path_ == "-" ? "<stdout>" : path_, std::strerror(errno));
}

void OutputFile::flush() {
  if (std::fflush(file_) != 0)
    throw_error(ExitCode::runtime, "{}: flush failed: {}", path_ == "-" ? "<stdout>" : path_, std::strerror(errno));
}

void OutputFile::commit() {
  if (committed_) return;
  flush();
  if (path_ == "-") {
    committed_ = true;
    return;
  }
  ::fsync(::fileno(file_));
  std::fclose(file_);
  file_ = nullptr;
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    std::remove(temp_path_.c_str());
    throw_error(ExitCode::runtime, "{}: cannot rename {} into place: {}", path_, temp_path_, std::strerror(e));
  }
  committed_ = true;
}

}  // namespace mds
