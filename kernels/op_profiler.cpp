// Per-operation GPU and host time of the CUDA backend (see op_profiler.h).
#include "kernels/op_profiler.h"

#include <algorithm>

namespace mds::cuda {

OpProfiler::Scope::Scope(OpProfiler* p, const char* name) : Scope(p, name, std::string()) {}

OpProfiler::Scope::Scope(OpProfiler* p, const char* name, const std::string& detail)
    : p_(p->enabled_ ? p : nullptr) {
  if (!p_) return;
  Mark m{detail.empty() ? std::string(name) : std::string(name) + " " + detail, nullptr, nullptr, 0.0};
  // Profiling must never change what runs: event failures just drop the mark.
  if (cudaEventCreate(&m.start) != cudaSuccess || cudaEventCreate(&m.end) != cudaSuccess) {
    cudaGetLastError();
    p_ = nullptr;
    return;
  }
  cudaEventRecord(m.start, p_->stream_);
  mark_ = p_->marks_.size();
  p_->marks_.push_back(m);
  t0_ = std::chrono::steady_clock::now();
}

OpProfiler::Scope::~Scope() {
  if (!p_) return;
  Mark& m = p_->marks_[mark_];
  cudaEventRecord(m.end, p_->stream_);
  m.host_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  // Bound the number of live events: fold them in every few thousand marks.
  if (p_->marks_.size() >= 4096) p_->collect();
}

void OpProfiler::collect() {
  cudaStreamSynchronize(stream_);
  for (Mark& m : marks_) {
    float ms = 0.f;
    if (cudaEventElapsedTime(&ms, m.start, m.end) != cudaSuccess) cudaGetLastError(), ms = 0.f;
    Total& t = totals_[m.name];
    ++t.calls;
    t.gpu_ms += ms;
    t.host_ms += m.host_ms;
    cudaEventDestroy(m.start);
    cudaEventDestroy(m.end);
  }
  marks_.clear();
}

void OpProfiler::report(std::FILE* out) {
  if (!enabled_) return;
  collect();
  std::vector<std::pair<std::string, Total>> rows(totals_.begin(), totals_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.gpu_ms > b.second.gpu_ms; });
  double gpu = 0, host = 0;
  for (const auto& r : rows) gpu += r.second.gpu_ms, host += r.second.host_ms;
  std::fprintf(out, "mds cuda profile (MDS_CUDA_PROFILE): %.1f ms on the GPU, %.1f ms on the host\n", gpu, host);
  std::fprintf(out, "%-40s %9s %12s %7s %12s\n", "operation", "calls", "GPU ms", "GPU %", "host ms");
  for (const auto& [name, t] : rows)
    std::fprintf(out, "%-40s %9ld %12.2f %6.1f%% %12.2f\n", name.c_str(), t.calls, t.gpu_ms,
                 gpu > 0 ? 100.0 * t.gpu_ms / gpu : 0.0, t.host_ms);
  std::fflush(out);
  totals_.clear();
}

OpProfiler::~OpProfiler() {
  for (Mark& m : marks_) {
    cudaEventDestroy(m.start);
    cudaEventDestroy(m.end);
  }
}

}  // namespace mds::cuda
