// Where this process sits in a data-parallel job, read from the environment
// its launcher sets (docs/distributed.md, "Launching"): mds-train --gpus N and
// torchrun-style launchers (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT), Open MPI's mpirun (OMPI_COMM_WORLD_*), Slurm's srun
// (SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID, SLURM_STEP_NODELIST).
#pragma once

#include <functional>
#include <string>

namespace mds::dist {

struct LaunchEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;  // rank 0's host, where the rendezvous listens
  int master_port = 29500;
  std::string launcher;     // "env", "mpirun", "srun", or "" for one process
  bool distributed() const { return world_size > 1; }
};

// Reads the variables through `get` (nullptr = unset); the first complete
// set wins in the order RANK/WORLD_SIZE, Open MPI, Slurm. Inconsistent values
// (a rank outside the world, a non-number, a multi-process job without
// MASTER_ADDR that Slurm's node list cannot supply) are usage errors naming
// the variable.
LaunchEnv read_launch_env(const std::function<const char*(const char*)>& get);
LaunchEnv read_launch_env();  // from the process environment

// The first host of a Slurm node list: "gpu[07-09,12],cpu1" -> "gpu07".
std::string first_slurm_host(const std::string& nodelist);

}  // namespace mds::dist
