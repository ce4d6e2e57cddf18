// Implementation of the file/stdin streams: zstd sniffing, line splitting and
// atomic output. See stream.h.
#include "io/stream.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
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

uint64_t InputFile::size_hint() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

bool InputFile::wait_readable(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (n > 0) return true;  // POLLIN, POLLHUP (writer gone: read() returns 0) or POLLERR (read() reports it)
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let read() report the problem
  }
}

std::vector<uint8_t> read_all_bytes(const std::string& path) {
  InputFile in(path);
  std::vector<uint8_t> out;
  // A regular file's size is known: one allocation of the right size, not a
  // zero-filled 1 MiB step per read (which dominated small reads, e.g. a
  // tokenizer, and the fuzzers' inputs). Pipes grow the buffer as they go.
  const uint64_t hint = in.size_hint();
  if (hint > 0) out.reserve(static_cast<size_t>(hint) + 1);  // + 1: the read that sees the end
  std::vector<uint8_t> chunk(64 << 10);
  for (;;) {
    const size_t got = in.read(chunk.data(), chunk.size());
    if (got == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(got));
  }
  return out;
}

struct LineReader::ZstdState {
  ZSTD_DCtx* ctx = nullptr;
  std::vector<char> out = std::vector<char>(1 << 20);  // decompressed bytes, reused by every fill()
  ~ZstdState() { ZSTD_freeDCtx(ctx); }
};

namespace {
// Raw read buffer: 1 MiB, or less for a small regular file (a zero-filled
// 1 MiB per small file dominated reading many of them).
size_t raw_buffer_size(const InputFile& in) {
  const uint64_t hint = in.size_hint();
  constexpr size_t kMax = 1 << 20;
  return hint > 0 && hint < kMax ? std::max<size_t>(static_cast<size_t>(hint) + 1, 4096) : kMax;
}
}  // namespace

LineReader::LineReader(const std::string& path) : input_(path), raw_(raw_buffer_size(input_)) {}
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
  std::vector<char>& out = zstd_->out;
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

bool LineReader::wait_for_line(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (buffer_.size() > pos_ && std::memchr(buffer_.data() + pos_, '\n', buffer_.size() - pos_)) return true;
    if (sniffed_ && raw_eof_ && raw_pos_ == raw_len_) return true;  // next() returns the rest or false at once
    // Bytes already read but not yet decoded (compressed input): fill()
    // decodes them; it may then wait for more, which is the input's pace.
    if (!(sniffed_ && raw_pos_ < raw_len_)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !input_.wait_readable(static_cast<int>(left.count()))) return false;
    }
    if (!fill()) return true;  // the end of input
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

namespace {

// Random bits for temp names: the kernel's generator, else /dev/urandom, else
// a high-resolution clock mixed with the caller's address (O_EXCL still keeps
// names unique; the randomness only makes retries rare).
uint64_t random_u64(const void* salt) {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof v)) return v;
  const int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    const ssize_t got = ::read(fd, &v, sizeof v);
    ::close(fd);
    if (got == static_cast<ssize_t>(sizeof v)) return v;
  }
  v = static_cast<uint64_t>(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  v ^= reinterpret_cast<uintptr_t>(salt) * 0x9E3779B97F4A7C15ull;
  v ^= static_cast<uint64_t>(::getpid()) << 32;
  return v;
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string temp_name(const std::string& path, const void* salt) {
  return fmt::format("{}.tmp.{}.{}.{:016x}", path, host_name_for_files(), ::getpid(), random_u64(salt));
}

bool all_of(const std::string& s, const char* allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string::npos;
}

// Creates a new temp file for `path` (O_EXCL), flock()s it and returns its
// fd, or -1 with `error` set. A stale-temp cleaner of another PID namespace
// could remove the file between its creation and the lock: the lock is then
// checked to be on the name.
int try_create_temp(const std::string& path, std::string& temp, const void* salt, int& error) {
  error = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp = temp_name(path, salt);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      error = errno;
      if (error == EEXIST || error == EINTR) continue;
      return -1;
    }
    // Without lock support (some network file systems) the writer goes on
    // unlocked; cleaners then cannot lock the file and leave it alone.
    ::flock(fd, LOCK_EX | LOCK_NB);
    struct stat by_fd {}, by_name {};
    if (::fstat(fd, &by_fd) == 0 && ::stat(temp.c_str(), &by_name) == 0 && by_fd.st_dev == by_name.st_dev &&
        by_fd.st_ino == by_name.st_ino)
      return fd;
    ::close(fd);
    error = ENOENT;
  }
  return -1;
}

std::string describe_errno(int e) {
  std::string text = std::strerror(e);
  if (e == EFBIG) text += " (the file size limit, ulimit -f, was reached)";
  if (e == EPIPE) text += " (the reading end of the pipe was closed)";
  return text;
}

}  // namespace

std::string host_name_for_files() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  std::string h(buf);
  for (char& c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  if (h.size() > 64) h.resize(64);
  return h;
}

size_t remove_stale_temp_files(const std::string& path) {
  const std::string folder = folder_of(path);
  const std::string prefix = base_of(path) + ".tmp.";
  const std::string host = host_name_for_files();
  DIR* dir = ::opendir(folder.c_str());
  if (!dir) return 0;  // best effort: creating the new temp reports real problems
  size_t removed = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // HOST.PID.RANDOM; HOST holds no '.', so the fields split cleanly.
    const std::string rest = name.substr(prefix.size());
    const size_t d1 = rest.find('.'), d2 = rest.rfind('.');
    if (d1 == std::string::npos || d1 == d2) continue;
    const std::string h = rest.substr(0, d1), pid_text = rest.substr(d1 + 1, d2 - d1 - 1), rnd = rest.substr(d2 + 1);
    if (h != host || !all_of(pid_text, "0123456789") || pid_text.size() > 9 || rnd.size() != 16 ||
        !all_of(rnd, "0123456789abcdef"))
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to ask: keep
    const std::string full = folder + "/" + name;
    const int fd = ::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat by_fd {}, by_name {};
    // The lock: a writer of another PID namespace with the same host name
    // and a PID that happens to be free here still holds it.
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &by_fd) == 0 && S_ISREG(by_fd.st_mode) &&
        ::lstat(full.c_str(), &by_name) == 0 && by_fd.st_dev == by_name.st_dev && by_fd.st_ino == by_name.st_ino &&
        ::unlink(full.c_str()) == 0)
      ++removed;
    ::close(fd);
  }
  ::closedir(dir);
  return removed;
}

OutputFile::OutputFile(const std::string& path) : path_(path.empty() ? "-" : path) {
  if (path_ == "-") {
    file_ = stdout;
    return;
  }
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw_error(ExitCode::runtime, "{}: is a folder; expected the path of a file to write", path_);
    if (!S_ISREG(st.st_mode)) {
      // A device or FIFO: a temp file and a rename would replace it.
      file_ = std::fopen(path_.c_str(), "wb");
      if (!file_) throw_error(ExitCode::runtime, "{}: cannot open for writing: {}", path_, std::strerror(errno));
      return;
    }
  }
  remove_stale_temp_files(path_);
  int error = 0;
  const int fd = try_create_temp(path_, temp_path_, this, error);
  if (fd < 0)
    throw_error(ExitCode::runtime, "{}: cannot create temporary file {}: {}", path_, temp_path_, std::strerror(error));
  file_ = ::fdopen(fd, "wb");
  if (!file_) {
    const int e = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw_error(ExitCode::runtime, "{}: cannot open temporary file {}: {}", path_, temp_path_, std::strerror(e));
  }
}

OutputFile::~OutputFile() {
  if (path_ == "-") {
    std::fflush(stdout);  // errors were reported by commit(), or an error is already on its way
    return;
  }
  if (file_) std::fclose(file_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void OutputFile::fail(const char* what, int error) const {
  throw_error(ExitCode::runtime, "{}: {}: {}", path_ == "-" ? "<stdout>" : path_, what,
              describe_errno(error ? error : EIO));
}

void OutputFile::write(const void* data, size_t n) {
  if (!file_) fail("write failed", EBADF);
  errno = 0;
  if (n && std::fwrite(data, 1, n, file_) != n) fail("write failed", errno);
}

void OutputFile::flush() {
  if (!file_) fail("flush failed", EBADF);
  errno = 0;
  if (std::fflush(file_) != 0 || std::ferror(file_)) fail("write failed", errno);
}

void OutputFile::commit() {
  if (committed_) return;
  flush();
  if (path_ == "-") {
    committed_ = true;
    return;
  }
  if (temp_path_.empty()) {  // written in place (a device or FIFO): nothing to sync or rename
    std::FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) fail("close failed", errno);
    committed_ = true;
    return;
  }
  // Data first, then the name: a crash never leaves a renamed, half-written file.
  if (::fsync(::fileno(file_)) != 0) fail("fsync failed", errno);
  // Renamed while still open, so the temp keeps its lock up to the rename.
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    throw_error(ExitCode::runtime, "{}: cannot rename {} into place: {}", path_, temp_path_, std::strerror(e));
  }
  committed_ = true;
  std::FILE* f = file_;
  file_ = nullptr;
  if (std::fclose(f) != 0) fail("close failed", errno);
}

namespace {
bool stat_path(const std::string& path, struct stat& st) {
  if (path == "-") return ::fstat(STDIN_FILENO, &st) == 0;
  return ::stat(path.c_str(), &st) == 0;
}
std::string shown(const NamedPath& p) {
  const std::string name = p.path == "-" ? "<stdin>" : p.path;
  return p.flag.empty() ? name : p.flag + " " + name;
}
}  // namespace

void refuse_output_overwriting_input(const NamedPath& output, const std::vector<NamedPath>& inputs) {
  if (output.path.empty() || output.path == "-") return;
  struct stat out {};
  const bool exists = ::stat(output.path.c_str(), &out) == 0;
  if (exists && !S_ISREG(out.st_mode)) return;  // a device or FIFO is written in place, harmlessly
  std::error_code ec;
  const std::filesystem::path out_name = exists ? std::filesystem::path() : std::filesystem::weakly_canonical(output.path, ec);
  for (const NamedPath& in : inputs) {
    if (in.path.empty()) continue;
    struct stat st {};
    bool same = false;
    if (exists) {
      same = stat_path(in.path, st) && st.st_dev == out.st_dev && st.st_ino == out.st_ino;
    } else if (in.path != "-" && !ec) {
      // Not there yet, so no existing input can be it; but another output
      // (a log opened first) named the same way would be.
      std::error_code ec2;
      same = std::filesystem::weakly_canonical(in.path, ec2) == out_name && !ec2;
    }
    if (same)
      throw_usage("{} is the same file as {}; refusing to write over it: choose another output file", shown(output),
                  shown(in));
  }
}

void check_output_writable(const NamedPath& output) {
  if (output.path.empty() || output.path == "-") return;
  struct stat st {};
  if (::stat(output.path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw_usage("{}: is a folder; expected the path of a file to write", shown(output));
    if (!S_ISREG(st.st_mode)) return;  // a device or FIFO, written in place
  }
  const std::string folder = folder_of(output.path);
  struct stat fs {};
  if (::stat(folder.c_str(), &fs) != 0)
    throw_usage("{}: cannot write there: folder {}: {}", shown(output), folder, std::strerror(errno));
  if (!S_ISDIR(fs.st_mode)) throw_usage("{}: cannot write there: {} is not a folder", shown(output), folder);
  // access(2) misjudges read-only mounts, ACLs and root: try it instead.
  std::string probe;
  int error = 0;
  const int fd = try_create_temp(output.path, probe, &output, error);
  if (fd < 0) throw_usage("{}: cannot create a file in folder {}: {}", shown(output), folder, std::strerror(error));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace mds
