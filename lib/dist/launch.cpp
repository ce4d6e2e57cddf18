// Launch environment parsing (see launch.h).
#include "dist/launch.h"

#include <cerrno>
#include <cstdlib>

#include "core/error.h"

namespace mds::dist {

namespace {

int to_int(const char* name, const char* text, int lo) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || v < lo || v > 1 << 30)
    throw_usage("environment variable {}=\"{}\": expected an integer >= {}", name, text, lo);
  return static_cast<int>(v);
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  const size_t comma = nodelist.find(',');
  const size_t bracket = nodelist.find('[');
  if (bracket == std::string::npos || (comma != std::string::npos && comma < bracket))
    return nodelist.substr(0, comma);
  // prefix[07-09,12]suffix: the prefix and the first number of the range.
  const size_t stop = nodelist.find_first_of("-,]", bracket + 1);
  if (stop == std::string::npos) return nodelist.substr(0, bracket);
  return nodelist.substr(0, bracket) + nodelist.substr(bracket + 1, stop - bracket - 1);
}

LaunchEnv read_launch_env(const std::function<const char*(const char*)>& get) {
  LaunchEnv e;
  auto has = [&](const char* n) { return get(n) != nullptr && *get(n) != '\0'; };
  const char *rank_var = nullptr, *world_var = nullptr, *local_var = nullptr;
  if (has("RANK") || has("WORLD_SIZE")) {
    rank_var = "RANK", world_var = "WORLD_SIZE", local_var = "LOCAL_RANK", e.launcher = "env";
  } else if (has("OMPI_COMM_WORLD_RANK")) {
    rank_var = "OMPI_COMM_WORLD_RANK", world_var = "OMPI_COMM_WORLD_SIZE", local_var = "OMPI_COMM_WORLD_LOCAL_RANK";
    e.launcher = "mpirun";
  } else if (has("SLURM_PROCID") && has("SLURM_STEP_NUM_TASKS")) {
    // SLURM_STEP_NUM_TASKS, not SLURM_NTASKS: the batch script itself runs
    // with SLURM_NTASKS of the allocation but is one process, not a rank.
    rank_var = "SLURM_PROCID", world_var = "SLURM_STEP_NUM_TASKS", local_var = "SLURM_LOCALID", e.launcher = "srun";
  } else {
    return e;
  }
  if (!has(rank_var)) throw_usage("environment: {} is set but {} is not", world_var, rank_var);
  if (!has(world_var)) throw_usage("environment: {} is set but {} is not", rank_var, world_var);
  e.rank = to_int(rank_var, get(rank_var), 0);
  e.world_size = to_int(world_var, get(world_var), 1);
  if (e.rank >= e.world_size)
    throw_usage("environment: {}={} is outside the world of {}={}", rank_var, e.rank, world_var, e.world_size);
  e.local_rank = has(local_var) ? to_int(local_var, get(local_var), 0) : 0;
  if (has("MASTER_PORT")) {
    e.master_port = to_int("MASTER_PORT", get("MASTER_PORT"), 1);
    if (e.master_port > 65535) throw_usage("environment variable MASTER_PORT={}: expected a port in [1, 65535]", e.master_port);
  }
  if (has("MASTER_ADDR")) {
    e.master_addr = get("MASTER_ADDR");
  } else if (e.launcher == "srun" && has("SLURM_STEP_NODELIST")) {
    e.master_addr = first_slurm_host(get("SLURM_STEP_NODELIST"));
  } else if (e.world_size > 1) {
    throw_usage("environment: {} ranks were launched ({}) but MASTER_ADDR is not set: export MASTER_ADDR (rank 0's "
                "host) and MASTER_PORT for the rendezvous (docs/distributed.md)",
                e.world_size, e.launcher);
  }
  if (!e.distributed()) e.launcher.clear();
  return e;
}

LaunchEnv read_launch_env() {
  return read_launch_env([](const char* name) { return std::getenv(name); });
}

}  // namespace mds::dist
