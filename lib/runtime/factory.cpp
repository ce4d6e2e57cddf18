// Backend factory: maps device names to backend constructors.
#include "runtime/factory.h"

#include <cstdlib>

#include "core/error.h"
#include "cpu/cpu_backend.h"
#include "dist/rendezvous.h"
#ifdef MDS_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif
#ifdef MDS_HAVE_NCCL
#include "kernels/nccl_communicator.h"
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
  std::string device = resolve_device(requested);
  int gpu = 0;
  const size_t colon = device.find(':');
  if (colon != std::string::npos && device.rfind("cuda", 0) == 0) {
    const std::string index = device.substr(colon + 1);
    char* end = nullptr;
    const long v = std::strtol(index.c_str(), &end, 10);
    if (index.empty() || *end != '\0' || v < 0 || v > 1023)
      throw_usage("device '{}': expected cuda:N or cuda-f32:N with a GPU index N >= 0", requested);
    gpu = static_cast<int>(v);
    device.resize(colon);
  }
  if (device == "cpu") return std::shared_ptr<Backend>(make_cpu_backend(threads, CpuPrecision::f32));
  if (device == "cpu-f64") return std::shared_ptr<Backend>(make_cpu_backend(threads, CpuPrecision::f64));
#ifdef MDS_HAVE_CUDA
  // A CUDA build on a machine without a GPU: a runtime error, not a usage error.
  if (device == "cuda") return std::shared_ptr<Backend>(make_cuda_backend(gpu, CudaPrecision::bf16));
  if (device == "cuda-f32") return std::shared_ptr<Backend>(make_cuda_backend(gpu, CudaPrecision::f32));
#endif
  std::string list;
  for (const auto& d : available_backends()) list += (list.empty() ? "" : ", ") + d;
  if (device.rfind("cuda", 0) == 0) throw_usage("device '{}': this is a CPU-only build (no CUDA backend) (available: {})", device, list);
  throw_usage("unknown device '{}' (available: {})", device, list);
}

std::unique_ptr<dist::Communicator> make_process_communicator(Backend& backend, const dist::LaunchEnv& env,
                                                              double timeout_s) {
  if (backend.name().rfind("cuda", 0) != 0)
    throw_usage("{} ranks were launched ({}) on the {} backend: multi-process training runs on GPUs with NCCL; on the "
                "CPU, train in one process (--threads)",
                env.world_size, env.launcher, backend.name());
#ifdef MDS_HAVE_NCCL
  const std::string id = dist::rendezvous(env, env.rank == 0 ? nccl_unique_id() : std::string(), timeout_s);
  return make_nccl_communicator(backend, id, env.rank, env.world_size, timeout_s);
#else
  (void)timeout_s;
  throw_usage("{} ranks were launched ({}), but this build has no NCCL: rebuild with a CUDA toolkit that includes "
              "NCCL (docs/distributed.md)",
              env.world_size, env.launcher);
#endif
}

}  // namespace mds
