// Per-operation time of the CUDA backend, for finding where a training or
// sampling step goes (the GPU machine has no Nsight). Enabled by the
// environment variable MDS_CUDA_PROFILE=1 when the backend is made; off, a
// scope costs one branch. Each backend operation opens a scope: two CUDA
// events around the work it queues (GPU time) and a host clock (host time:
// launch overhead, host loops, and the waits of synchronising operations).
// The report, written to stderr when the backend is destroyed, lists per
// operation name the calls, the GPU milliseconds and the host milliseconds.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

namespace mds::cuda {

class OpProfiler {
 public:
  OpProfiler(cudaStream_t stream, bool enabled) : stream_(stream), enabled_(enabled) {}
  ~OpProfiler();
  OpProfiler(const OpProfiler&) = delete;
  OpProfiler& operator=(const OpProfiler&) = delete;

  class Scope {
   public:
    Scope(OpProfiler* p, const char* name);
    // With a detail (e.g. a GEMM's shape) appended to the name: "name detail".
    Scope(OpProfiler* p, const char* name, const std::string& detail);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    OpProfiler* p_;
    size_t mark_ = 0;
    std::chrono::steady_clock::time_point t0_;
  };

  bool enabled() const { return enabled_; }
  // Waits for the stream, adds the pending events up and writes the table.
  void report(std::FILE* out);

 private:
  struct Mark {
    std::string name;
    cudaEvent_t start, end;
    double host_ms;
  };
  struct Total {
    long calls = 0;
    double gpu_ms = 0, host_ms = 0;
  };
  void collect();

  cudaStream_t stream_;
  bool enabled_;
  std::vector<Mark> marks_;
  std::map<std::string, Total> totals_;
};

}  // namespace mds::cuda
