// NCCL communicator (see nccl_communicator.h). The communicator is
// non-blocking (NCCL's config.blocking = 0) so that no call can wait
// forever: every call and every completion is polled against the deadline
// with ncclCommGetAsyncError, and a failure or a timeout aborts the
// communicator (ncclCommAbort) before throwing. Nothing here may block the
// host on the collective stream outside those polls: no cudaFree, no copy to
// or from pageable memory while a collective may still be queued (either
// waits, without a deadline, for a peer that may be dead).
#include "kernels/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "core/error.h"
#include "kernels/cuda_backend.h"

namespace mds {

namespace {

using Clock = std::chrono::steady_clock;

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw_runtime("NCCL communicator: {} failed: {}", what, cudaGetErrorString(e));
}

// NCCL's last warning of this thread (its comm argument is unused, so it is
// fine after an abort); fmt throws on a null string.
const char* last_error() {
  const char* e = ncclGetLastError(nullptr);
  return e ? e : "";
}

class NcclCommunicator final : public dist::Communicator {
 public:
  NcclCommunicator(Backend& backend, const std::string& id, int rank, int world, double timeout_s)
      : rank_(rank), world_(world), timeout_s_(timeout_s) {
    const CudaQueue q = cuda_backend_queue(backend);
    if (!q.stream) throw_usage("multi-GPU training needs the CUDA backend (device cuda or cuda-f32), not {}", backend.name());
    if (backend.real_bytes() != 4) throw_runtime("NCCL communicator: {}-byte elements are not supported", backend.real_bytes());
    if (id.size() != sizeof(ncclUniqueId))
      throw_runtime("NCCL communicator: the unique id has {} bytes, expected {}", id.size(), sizeof(ncclUniqueId));
    compute_ = static_cast<cudaStream_t>(q.stream);
    device_ = q.device;
    // A throwing constructor runs no destructor: release what was made.
    try {
      check_cuda(cudaSetDevice(device_), "cudaSetDevice");
      check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
      check_cuda(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming), "cudaEventCreate");
      check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
      // Allocated before NCCL starts, so the first exchanges allocate nothing
      // while collectives are queued.
      reserve(size_t(64) << 10);
      ncclUniqueId uid;
      std::memcpy(&uid, id.data(), sizeof uid);
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;
      const auto deadline = Clock::now() + timeout();
      settle(ncclCommInitRankConfig(&comm_, world_, uid, rank_, &config), "ncclCommInitRankConfig", deadline);
    } catch (...) {
      close(true);
      throw;
    }
  }

  // An exception on its way out means this rank is failing (its peers may be
  // stuck in a collective it will never join): abort. Otherwise finalize,
  // which waits for the other ranks of the host to finalize too (nccl.h: the
  // state becomes ncclSuccess "when the communicator is globally quiescent"),
  // so it gets the collectives' timeout: rank 0 may still be writing the
  // last checkpoint when the others get here.
  ~NcclCommunicator() override { close(std::uncaught_exceptions() > 0); }

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t) override {
    after_compute();
    settle(ncclAllReduce(t.data(), t.data(), size_t(t.numel()), ncclFloat32, ncclSum, comm_, stream_),
           "ncclAllReduce", Clock::now() + timeout());
  }

  void reduce_scatter_sum(Tensor& data) override {
    const size_t n = chunk(data, "reduce_scatter_sum");
    after_compute();
    float* base = static_cast<float*>(data.data());
    settle(ncclReduceScatter(base, base + n * rank_, n, ncclFloat32, ncclSum, comm_, stream_), "ncclReduceScatter",
           Clock::now() + timeout());
  }

  void all_gather(Tensor& data) override {
    const size_t n = chunk(data, "all_gather");
    after_compute();
    float* base = static_cast<float*>(data.data());
    settle(ncclAllGather(base + n * rank_, base, n, ncclFloat32, comm_, stream_), "ncclAllGather",
           Clock::now() + timeout());
  }

  // The host waits for the collectives (polling, so a dead peer is a timeout,
  // not a hang); the backend's stream then also waits for them on the device.
  void wait() override {
    check_open();
    check_cuda(cudaEventRecord(done_, stream_), "cudaEventRecord");
    complete("the gradient collectives");
    check_cuda(cudaStreamWaitEvent(compute_, done_, 0), "cudaStreamWaitEvent");
  }

  // The bytes go through buf_ (device) and host_ (pinned): a copy to or from
  // pageable memory may wait for the stream without a deadline (CUDA's "API
  // synchronization behavior": device to pageable host returns only once the
  // copy is done), behind a collective of a dead peer. host_sync polls them.
  std::vector<std::string> all_gather_bytes(const std::string& mine) override {
    check_open();
    // Lengths first, then every rank's bytes padded to the longest.
    reserve(sizeof(int64_t) * world_);
    auto* h_len = static_cast<int64_t*>(host_);
    auto* d_len = static_cast<int64_t*>(buf_);
    h_len[rank_] = int64_t(mine.size());
    check_cuda(cudaMemcpyAsync(d_len + rank_, h_len + rank_, sizeof(int64_t), cudaMemcpyHostToDevice, stream_), "copy");
    settle(ncclAllGather(d_len + rank_, d_len, 1, ncclInt64, comm_, stream_), "ncclAllGather", Clock::now() + timeout());
    check_cuda(cudaMemcpyAsync(h_len, d_len, sizeof(int64_t) * world_, cudaMemcpyDeviceToHost, stream_), "copy");
    host_sync("the exchange of lengths");
    const std::vector<int64_t> lengths(h_len, h_len + world_);
    int64_t longest = 1;
    for (int64_t l : lengths) {
      if (l < 0 || l > (int64_t(1) << 40)) fail(fmt::format("the exchange of host values got a length of {}", l));
      longest = std::max(longest, l);
    }
    reserve(size_t(longest) * world_);
    char* h_bytes = static_cast<char*>(host_);
    char* d_bytes = static_cast<char*>(buf_);
    if (!mine.empty()) {
      std::memcpy(h_bytes + longest * rank_, mine.data(), mine.size());
      check_cuda(cudaMemcpyAsync(d_bytes + longest * rank_, h_bytes + longest * rank_, mine.size(),
                                 cudaMemcpyHostToDevice, stream_),
                 "copy");
    }
    settle(ncclAllGather(d_bytes + longest * rank_, d_bytes, size_t(longest), ncclChar, comm_, stream_),
           "ncclAllGather", Clock::now() + timeout());
    check_cuda(cudaMemcpyAsync(h_bytes, d_bytes, size_t(longest) * world_, cudaMemcpyDeviceToHost, stream_), "copy");
    host_sync("the exchange of host values");
    std::vector<std::string> out;
    for (int q = 0; q < world_; ++q) out.emplace_back(h_bytes + longest * q, size_t(lengths[q]));
    return out;
  }

  void abort(const std::string& why) override {
    if (aborted_ || !comm_) return;
    aborted_ = true;
    abort_reason_ = why;
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }

 private:
  // Abort (failing) or finalize and destroy the communicator, then free the
  // rest; never throws. ncclCommAbort and ncclCommDestroy block even on a
  // non-blocking communicator (NCCL runs them as blocking groups), and
  // ncclCommDestroy is only called once finalization reached ncclSuccess.
  void close(bool failing) noexcept {
    cudaSetDevice(device_);
    if (comm_) {
      if (failing) {
        ncclCommAbort(comm_);
      } else {
        ncclResult_t state = ncclCommFinalize(comm_);
        const auto deadline = Clock::now() + timeout();
        while (state == ncclInProgress && Clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclSystemError;
        }
        if (state == ncclSuccess) ncclCommDestroy(comm_); else ncclCommAbort(comm_);
      }
      comm_ = nullptr;
    }
    free_buffers();
    if (done_) cudaEventDestroy(done_);
    if (ready_) cudaEventDestroy(ready_);
    if (stream_) cudaStreamDestroy(stream_);
    done_ = ready_ = nullptr;
    stream_ = nullptr;
  }

  void free_buffers() noexcept {
    if (buf_) cudaFree(buf_);
    if (host_) cudaFreeHost(host_);
    buf_ = host_ = nullptr;
    capacity_ = 0;
  }

  // Grows buf_ and host_ to `bytes`. cudaFree and cudaFreeHost synchronize
  // the device, so the collective stream is drained (with the deadline)
  // before the old ones go.
  void reserve(size_t bytes) {
    if (bytes <= capacity_) return;
    const size_t grown = std::max({bytes, 2 * capacity_, size_t(4096)});
    if (capacity_ > 0) host_sync("the collectives before a larger exchange buffer");
    free_buffers();
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaMalloc(&buf_, grown), "cudaMalloc");
    check_cuda(cudaMallocHost(&host_, grown), "cudaMallocHost");
    capacity_ = grown;
  }

  // Later calls after an abort throw its reason (comm_ is gone).
  void check_open() const {
    if (aborted_ || !comm_) throw_runtime("rank {}: the communicator was aborted: {}", rank_, abort_reason_);
  }

  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<long long>(timeout_s_ * 1000));
  }

  size_t chunk(const Tensor& t, const char* what) const {
    if (t.numel() % world_ != 0) throw_runtime("{}: {} elements do not split into {} equal chunks", what, t.numel(), world_);
    return size_t(t.numel() / world_);
  }

  // The collective stream waits for everything queued on the backend so far.
  void after_compute() {
    check_open();
    check_cuda(cudaEventRecord(ready_, compute_), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, ready_, 0), "cudaStreamWaitEvent");
  }

  // A non-blocking NCCL call returns ncclInProgress until it is enqueued.
  void settle(ncclResult_t r, const char* what, Clock::time_point deadline) {
    if (r == ncclInProgress || r == ncclSuccess) {
      ncclResult_t state = r;
      while (state == ncclInProgress) {
        if (Clock::now() > deadline) fail(fmt::format("{} did not start within {} s", what, timeout_s_));
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclSystemError;
        if (state == ncclInProgress) std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      if (state == ncclSuccess) return;
      r = state;
    }
    fail(fmt::format("{} failed: {} ({})", what, ncclGetErrorString(r), last_error()));
  }

  // Polls the collective stream up to the last recorded event `done_`.
  void complete(const char* what) {
    const auto deadline = Clock::now() + timeout();
    for (;;) {
      const cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) fail(fmt::format("{}: {}", what, cudaGetErrorString(q)));
      ncclResult_t state = ncclSuccess;
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) state = ncclSystemError;
      if (state != ncclSuccess && state != ncclInProgress)
        fail(fmt::format("{}: {} ({})", what, ncclGetErrorString(state), last_error()));
      if (Clock::now() > deadline)
        fail(fmt::format("{} did not complete within {} s: another rank failed, stopped or hangs", what, timeout_s_));
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  void host_sync(const char* what) {
    check_cuda(cudaEventRecord(done_, stream_), "cudaEventRecord");
    complete(what);
  }

  [[noreturn]] void fail(const std::string& why) {
    const std::string message = fmt::format("rank {}: NCCL: {}", rank_, why);
    abort(why);
    throw Error(ExitCode::runtime, message);
  }

  int rank_, world_;
  double timeout_s_;
  int device_ = 0;
  cudaStream_t compute_ = nullptr, stream_ = nullptr;
  cudaEvent_t ready_ = nullptr, done_ = nullptr;
  void* buf_ = nullptr;   // device bytes of all_gather_bytes
  void* host_ = nullptr;  // pinned host bytes of all_gather_bytes
  size_t capacity_ = 0;   // of each
  ncclComm_t comm_ = nullptr;
  bool aborted_ = false;
  std::string abort_reason_;
};

}  // namespace

std::string nccl_unique_id() {
  ncclUniqueId id;
  const ncclResult_t r = ncclGetUniqueId(&id);
  if (r != ncclSuccess) throw_runtime("ncclGetUniqueId failed: {}", ncclGetErrorString(r));
  return std::string(reinterpret_cast<const char*>(&id), sizeof id);
}

std::unique_ptr<dist::Communicator> make_nccl_communicator(Backend& backend, const std::string& unique_id, int rank,
                                                           int world, double timeout_s) {
  return std::make_unique<NcclCommunicator>(backend, unique_id, rank, world, timeout_s);
}

}  // namespace mds
