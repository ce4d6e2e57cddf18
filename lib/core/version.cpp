// --version text. CUDA details are queried at run time so a binary built with
// CUDA still reports cleanly on a machine without a GPU.
#include "core/version.h"

#include <fmt/format.h>
#include <zstd.h>

#ifdef MDS_HAVE_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#endif

namespace mds {

std::string version_report(const std::string& program) {
  std::string out = fmt::format("{} {}\n", program, MDS_VERSION);
  out += fmt::format("  zstd {}\n", ZSTD_versionString());
#ifdef MDS_HAVE_BLAS
  out += "  CPU BLAS: yes\n";
#else
  out += "  CPU BLAS: no (built-in GEMM)\n";
#endif
#ifdef MDS_HAVE_CUDA
  int runtime = 0, driver = 0, devices = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  out += fmt::format("  CUDA runtime {}.{}", runtime / 1000, (runtime % 1000) / 10);
  if (driver > 0)
    out += fmt::format(", driver {}.{}", driver / 1000, (driver % 1000) / 10);
  else
    out += ", no driver";
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  cudaGetLastError();  // clear the "no device" error so later calls start clean
  out += fmt::format(", {} GPU(s)\n", devices);
  out += fmt::format("  cuBLAS {}.{}.{}\n", CUBLAS_VER_MAJOR, CUBLAS_VER_MINOR, CUBLAS_VER_PATCH);
#else
  out += "  CUDA: not built (CPU-only build)\n";
#endif
  return out;
}

}  // namespace mds
