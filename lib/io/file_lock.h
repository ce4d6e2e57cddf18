// An advisory lock that keeps two runs from writing one output: mds-train
// holds it on "OUT.lock" for the whole run, so a second trainer with the same
// -o fails at start instead of silently replacing the first one's
// checkpoints.
#pragma once

#include <string>

namespace mds {

class OutputLock {
 public:
  // Takes an exclusive flock() on `target + ".lock"` (created if missing) and
  // records in it who holds it ("PROGRAM, pid N on host H, started T").
  // Throws a runtime error (exit 1) naming that holder when another process
  // holds the lock; `flag` names the option in messages ("-o"). A target that
  // exists and is not a regular file (/dev/null) is not locked. A file system
  // without lock support leaves the run unlocked: held() is then false.
  OutputLock(const std::string& target, const std::string& flag, const std::string& program);
  // Removes the lock file, then releases the lock. Removing it is safe: a
  // process that opened the old file finds, once it holds the lock, that the
  // name no longer points to it and starts over with a new file.
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  bool held() const { return held_; }
  const std::string& path() const { return path_; }
  // Why the lock is not held, when a target is a regular file but held() is false.
  const std::string& unsupported_reason() const { return reason_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
  std::string reason_;
};

}  // namespace mds
