// Backend factory: maps device names to backend constructors.
#include "backend/factory.h"

#include "core/error.h"
#include "cpu/cpu_backend.h"
#ifdef MDS_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

namespace mds {

std::vector<std::string> available_backends() {
#ifdef MDS_HAVE_CUDA
  return {"cpu", "cpu-f64", "cuda"};
#else
  return {"cpu", "cpu-f64"};
#endif
}

std::shared_ptr<Backend> make_backend(const std::string& device, int threads) {
  if (threads < 1) throw_usage("threads must be >= 1, got {}", threads);
  if (device == "cpu") return std::shared_ptr<Backend>(make_cpu_backend(threads, CpuPrecision::f32));
  if (device == "cpu-f64") return std::shared_ptr<Backend>(make_cpu_backend(threads, CpuPrecision::f64));
#ifdef MDS_HAVE_CUDA
  // A CUDA build on a machine without a GPU: a runtime error, not a usage error.
  if (device == "cuda") return std::shared_ptr<Backend>(make_cuda_backend(0));
#endif
  std::string list;
  for (const auto& d : available_backends()) list += (list.empty() ? "" : ", ") + d;
  if (device == "cuda") throw_usage("device 'cuda': this is a CPU-only build (no CUDA backend) (available: {})", list);
  throw_usage("unknown device '{}' (available: {})", device, list);
}

}  // namespace mds
