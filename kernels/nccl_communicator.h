// The NCCL Communicator of multi-GPU training (docs/distributed.md): one rank
// per process and GPU, collectives on a stream of their own that waits for
// the CUDA backend's work, so gradient buckets are summed while the backward
// pass goes on. Built when the CUDA toolkit has NCCL (MDS_HAVE_NCCL).
#pragma once

#include <memory>
#include <string>

#include "backend/backend.h"
#include "dist/communicator.h"

namespace mds {

// A fresh NCCL unique id (rank 0 makes it; the rendezvous hands it out).
std::string nccl_unique_id();

// Rank `rank` of `world` on the CUDA backend `backend` (its device and
// stream). A collective that has not completed after timeout_s, or an NCCL
// error, aborts the communicator and throws naming the operation; abort()
// stops this rank's collectives, and the others' fail at their timeout or
// when NCCL sees the peer gone.
std::unique_ptr<dist::Communicator> make_nccl_communicator(Backend& backend, const std::string& unique_id, int rank,
                                                           int world, double timeout_s);

}  // namespace mds
