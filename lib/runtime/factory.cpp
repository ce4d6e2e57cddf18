// Backend factory: maps device names to backend constructors.
#include "runtime/factory.h"

#include "core/error.h"
#include "cpu/cpu_backend.h"
#ifdef MDS_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

namespace mds {

std::vector<std::string> available_backends() {
#ifdef MDS_HAVE_CUDA
  return {"cpu", "cpu-f64", "cuda", "cuda-f32"};
#else
  return {"cpu", "cpu-f64"};
#endif
}

std::string resolve_device(const std::string& device) {
  if (device != "auto") return device;
#ifdef MDS_HAVE_CUDA
  if (cuda_device_available()) return "cuda";
#endif
  return "cpu";
}

std::shared_ptr<Backend> make_backend(const std::string& requested, int threads) {
  if (threads < 1) throw_usage("threads must be >= 1, got {}", threads);
  const std::string device = resolve_device(requested);
  if (device == "cpu") return std::shared_ptr<Backend>(make_cpu_backend(threads, CpuPrecision::f32));
  if (device == "cpu-f64") return std::shared_ptr<Backend>(make_cpu_backend(threads, CpuPrecision::f64));
#ifdef MDS_HAVE_CUDA
  // A CUDA build on a machine without a GPU: a runtime error, not a usage error.
  if (device == "cuda") return std::shared_ptr<Backend>(make_cuda_backend(0, CudaPrecision::bf16));
  if (device == "cuda-f32") return std::shared_ptr<Backend>(make_cuda_backend(0, CudaPrecision::f32));
#endif
  std::string list;
  for (const auto& d : available_backends()) list += (list.empty() ? "" : ", ") + d;
  if (device.rfind("cuda", 0) == 0) throw_usage("device '{}': this is a CPU-only build (no CUDA backend) (available: {})", device, list);
  throw_usage("unknown device '{}' (available: {})", device, list);
}

}  // namespace mds
