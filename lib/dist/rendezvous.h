// The TCP rendezvous of a data-parallel job without MPI: rank 0 listens on
// MASTER_ADDR:MASTER_PORT and hands every other rank the bytes it serves
// (the NCCL unique id), as torchrun's store does (docs/distributed.md).
#pragma once

#include <string>

#include "dist/launch.h"

namespace mds::dist {

// Rank 0: serves `payload` to the world_size - 1 other ranks and returns it.
// Other ranks: connect to master_addr:master_port (retrying while rank 0
// starts) and return what rank 0 served. Each rank says its rank and world
// size on connecting; rank 0 refuses a duplicate rank or another world size.
// A rank that does not arrive within timeout_s is a runtime error naming
// the ranks still missing, the address and the port.
std::string rendezvous(const LaunchEnv& env, const std::string& payload, double timeout_s);

}  // namespace mds::dist
