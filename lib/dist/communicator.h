// The communicator interface of data-parallel training (docs/distributed.md):
// one rank per process (or per thread, in tests), collectives over backend
// tensors for the gradients and over host values for the small per-step
// agreements (loss terms, stop requests, failures). Two implementations:
// ThreadCommunicator (lib/dist/thread_communicator.h, ranks as threads on the
// CPU backend, what CI tests) and the NCCL one (kernels/nccl_communicator.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/tensor.h"

namespace mds::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string name() const = 0;  // "threads", "nccl"

  // ---- backend tensors (the rank's backend `real` elements) ---------------------
  // Every rank passes a tensor of the same element count; after the call each
  // holds the elementwise sum over ranks, the same values on every rank.
  // May complete asynchronously on a device queue: wait() orders it before
  // anything that reads the tensor from the host or from another queue.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // `data` has world_size * n elements; chunk `rank` of it (elements
  // [rank*n, (rank+1)*n)) receives the sum over ranks of their chunk `rank`.
  // The other chunks are left with unspecified values.
  virtual void reduce_scatter_sum(Tensor& data) = 0;
  // `data` has world_size * n elements; every rank's chunk `rank` is copied
  // into chunk `rank` of every rank's `data`.
  virtual void all_gather(Tensor& data) = 0;
  // Waits until the collectives issued so far are complete (a no-op where
  // they complete in the call).
  virtual void wait() {}

  // ---- host values ---------------------------------------------------------------
  // Every rank's bytes, in rank order (any length per rank).
  virtual std::vector<std::string> all_gather_bytes(const std::string& mine) = 0;

  // Stops this rank's collectives for good and makes the others' fail
  // instead of waiting: in-process ranks at once, with `why` in their error;
  // NCCL ranks when NCCL sees the peer gone or at their timeout
  // (--dist-timeout), naming the collective (never a hang).
  virtual void abort(const std::string& why) = 0;
};

// Sum of `values` over ranks, the same doubles on every rank (added in rank order).
std::vector<double> all_reduce_host(Communicator& comm, const std::vector<double>& values);

}  // namespace mds::dist
