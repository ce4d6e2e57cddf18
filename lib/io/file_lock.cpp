// The output lock (see file_lock.h).
#include "io/file_lock.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/stream.h"

namespace mds {

namespace {

bool same_file(int fd, const std::string& path) {
  struct stat by_fd {}, by_name {};
  return ::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_name) == 0 && by_fd.st_dev == by_name.st_dev &&
         by_fd.st_ino == by_name.st_ino;
}

std::string read_holder(int fd) {
  char buf[512];
  const ssize_t got = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s(buf, got > 0 ? static_cast<size_t>(got) : 0);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.empty() ? std::string("a process that has not recorded itself yet") : s;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

OutputLock::OutputLock(const std::string& target, const std::string& flag, const std::string& program) {
  if (target.empty() || target == "-") return;
  struct stat st {};
  if (::stat(target.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return;  // a device: nothing to lose
  path_ = target + ".lock";
  // A holder that exits removes the file; if that happens between our open
  // and our lock, we hold a lock on a removed file: start over.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
      throw_error(ExitCode::runtime, "{} {}: cannot create the lock file {}: {}", flag, target, path_,
                  std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int e = errno;
      if (e == EWOULDBLOCK) {
        const std::string holder = read_holder(fd);
        ::close(fd);
        throw_error(ExitCode::runtime,
                    "{} {}: another run is writing this file: {} holds the lock {}; wait for it to end or choose "
                    "another {}",
                    flag, target, holder, path_, flag);
      }
      if (e == EINTR) {
        ::close(fd);
        continue;
      }
      // ENOLCK, EOPNOTSUPP...: the file system cannot lock; go on unprotected.
      reason_ = fmt::format("cannot lock {}: {}", path_, std::strerror(e));
      ::close(fd);
      ::unlink(path_.c_str());
      path_.clear();
      return;
    }
    if (!same_file(fd, path_)) {
      ::close(fd);
      continue;
    }
    fd_ = fd;
    held_ = true;
    const std::string holder =
        fmt::format("{}, pid {} on host {}, started {}\n", program, ::getpid(), host_name_for_files(), utc_now());
    // The record only improves the message of a second run; the lock itself
    // is what protects, so a failed write is not an error.
    [[maybe_unused]] const bool recorded =
        ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, holder.data(), holder.size(), 0) == static_cast<ssize_t>(holder.size());
    return;
  }
  throw_error(ExitCode::runtime, "{} {}: could not take the lock {}: it kept being replaced", flag, target, path_);
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  if (same_file(fd_, path_)) ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace mds
