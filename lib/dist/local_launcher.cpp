// The single-host launcher of mds-train --gpus N (see local_launcher.h).
#include "dist/local_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "dist/launch.h"

namespace mds::dist {

int free_tcp_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) throw_runtime("socket(): {}", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int e = errno;
    ::close(s);
    throw_runtime("cannot find a free TCP port: {}", std::strerror(e));
  }
  ::close(s);
  return ntohs(a.sin_port);
}

namespace {

int status_of(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

}  // namespace

bool started_as_rank() { return read_launch_env().distributed(); }

LocalLaunchResult run_local_ranks(const std::string& program, const std::vector<std::string>& args, int n,
                                  const volatile std::sig_atomic_t* stop, double grace_s, std::FILE* messages) {
  if (n < 1) throw_usage("--gpus {}: expected at least 1", n);
  const int port = free_tcp_port();
  std::vector<pid_t> pids(n, -1);
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> env_vars = {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(n),
                                         "LOCAL_RANK=" + std::to_string(r), "MASTER_ADDR=127.0.0.1",
                                         "MASTER_PORT=" + std::to_string(port), std::string(kLocalLaunchVariable) + "=1"};
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      const int e = errno;
      for (int q = 0; q < r; ++q) ::kill(pids[q], SIGKILL);
      throw_runtime("--gpus: fork(): {}", std::strerror(e));
    }
    if (pid == 0) {
      for (const std::string& v : env_vars) ::putenv(const_cast<char*>(v.c_str()));
      ::execv(program.c_str(), argv.data());
      std::fprintf(stderr, "mds-train: rank %d: cannot execute %s: %s\n", r, program.c_str(), std::strerror(errno));
      ::_exit(127);
    }
    pids[r] = pid;
  }
  LocalLaunchResult result;
  int running = n;
  bool forwarded = false;
  std::chrono::steady_clock::time_point kill_at{};
  bool killing = false;
  while (running > 0) {
    if (stop && *stop != 0 && !forwarded) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, *stop);
      forwarded = true;
    }
    int ws = 0;
    const pid_t done = ::waitpid(-1, &ws, WNOHANG);
    if (done > 0) {
      int rank = -1;
      for (int r = 0; r < n; ++r)
        if (pids[r] == done) rank = r, pids[r] = -1;
      if (rank < 0) continue;
      --running;
      const int status = status_of(ws);
      // A rank stopped by the forwarded signal reports 128 + signal: that is
      // the job's result, not a failure.
      const bool stopped = forwarded && status == 128 + int(*stop);
      if (status != 0 && result.failed_rank < 0 && !stopped) {
        result.failed_rank = rank;
        result.exit_status = status;
        if (running > 0) {
          std::fprintf(messages, "mds-train: rank %d exited with status %d; stopping the other %d rank(s)\n", rank,
                       status, running);
          for (pid_t p : pids)
            if (p > 0) ::kill(p, SIGTERM);
          killing = true;
          kill_at = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<long long>(grace_s * 1000));
        }
      } else if (status != 0 && result.exit_status == 0) {
        result.exit_status = status;
      }
      continue;
    }
    if (done < 0 && errno != EINTR) break;
    if (killing && std::chrono::steady_clock::now() > kill_at) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      killing = false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return result;
}

}  // namespace mds::dist
