// Ranks as threads of one process, on the CPU backend: the in-process
// Communicator that lets CI test data parallelism and ZeRO-1 without GPUs
// (docs/distributed.md, "Testing without GPUs"). Sums run in rank order, so
// every rank gets the same bits and a run is reproducible.
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace mds::dist {

class ThreadGroup {
 public:
  // `real_bytes`: the backend's compute scalar (4 for "cpu", 8 for "cpu-f64").
  ThreadGroup(int world_size, int real_bytes);
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  // The communicator of one rank; call from that rank's thread. The group
  // must outlive it.
  std::unique_ptr<Communicator> communicator(int rank);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mds::dist
