// mds-train --gpus N: one process per GPU on this host (docs/distributed.md).
// The launcher re-executes the running program N times with RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT,
// forwards stop signals to every rank, and when one rank fails stops the
// others, so a job never outlives its first failure.
#pragma once

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

namespace mds::dist {

struct LocalLaunchResult {
  int exit_status = 0;  // the first failing rank's status (0 when all succeeded)
  int failed_rank = -1; // -1 when none failed
};

// Runs `program` with `args` (argv[1..]) as ranks 0..n-1 and waits for them.
// `stop` is the caller's signal flag: when it becomes non-zero the signal is
// forwarded to every rank (which then checkpoint once and stop together).
// After a rank fails the others get SIGTERM, then SIGKILL after grace_s.
// Messages about failed ranks go to `messages`.
LocalLaunchResult run_local_ranks(const std::string& program, const std::vector<std::string>& args, int n,
                                  const volatile std::sig_atomic_t* stop, double grace_s, std::FILE* messages);

// A TCP port of the loopback interface that is free now (the kernel's choice
// for port 0), for a rendezvous on this host; another program may still take
// it before it is used, the usual race of this method.
int free_tcp_port();

// Set (to 1) in the environment of the ranks run_local_ranks starts.
constexpr const char* kLocalLaunchVariable = "MDS_LOCAL_LAUNCH";

// Whether this process was started as a rank (RANK/WORLD_SIZE, mpirun or srun
// variables are set), so --gpus must not spawn again.
bool started_as_rank();

}  // namespace mds::dist
