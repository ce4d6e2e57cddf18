// ThreadGroup (see thread_communicator.h): every collective is post, meet,
// read the others' buffers, meet. A rank only writes the part of its own
// buffer that no other rank reads in the same collective, so in-place
// reduce-scatter and all-gather need no copies of the whole tensor.
#include "dist/thread_communicator.h"

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"

namespace mds::dist {

struct ThreadGroup::State {
  int world = 0, real_bytes = 0;
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  uint64_t generation = 0;
  bool aborted = false;
  std::string abort_reason;
  struct Slot {
    void* data = nullptr;
    int64_t count = 0;
    const std::string* bytes = nullptr;
    std::vector<char> result;
  };
  std::vector<Slot> slots;

  // Blocks until every rank has arrived (or one aborted: then throws).
  void meet(int rank) {
    std::unique_lock<std::mutex> lock(mu);
    if (aborted) throw_runtime("rank {}: {}", rank, abort_reason);
    const uint64_t gen = generation;
    if (++arrived == world) {
      arrived = 0;
      ++generation;
      cv.notify_all();
      return;
    }
    cv.wait(lock, [&] { return generation != gen || aborted; });
    if (generation == gen) throw_runtime("rank {}: {}", rank, abort_reason);
  }

  void abort(int rank, const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    if (!aborted) {
      aborted = true;
      abort_reason = fmt::format("stopped because rank {} failed: {}", rank, why);
    }
    cv.notify_all();
  }
};

namespace {

template <typename T>
void sum_range(const std::vector<ThreadGroup::State::Slot>& slots, int64_t begin, int64_t n, T* out) {
  for (int64_t i = 0; i < n; ++i) {
    T s = static_cast<const T*>(slots[0].data)[begin + i];
    for (size_t q = 1; q < slots.size(); ++q) s += static_cast<const T*>(slots[q].data)[begin + i];
    out[i] = s;
  }
}

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup::State& s, int rank) : s_(s), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return s_.world; }
  std::string name() const override { return "threads"; }

  void all_reduce_sum(Tensor& t) override {
    post(t.data(), t.numel());
    check_counts(t.numel(), "all_reduce_sum");
    // Rank r sums its share of the elements over every rank, then all copy.
    const int64_t n = t.numel(), W = s_.world;
    const int64_t begin = n * rank_ / W, end = n * (rank_ + 1) / W;
    sum_into_result(begin, end - begin);
    s_.meet(rank_);
    for (int q = 0; q < W; ++q) {
      const int64_t b = n * q / W;
      std::memcpy(static_cast<char*>(t.data()) + b * s_.real_bytes, s_.slots[q].result.data(),
                  s_.slots[q].result.size());
    }
    s_.meet(rank_);  // nobody reads a result after its owner's next collective rewrites it
  }

  void reduce_scatter_sum(Tensor& data) override {
    post(data.data(), data.numel());
    check_counts(data.numel(), "reduce_scatter_sum");
    const int64_t n = chunk(data.numel(), "reduce_scatter_sum");
    sum_into_result(n * rank_, n);
    s_.meet(rank_);  // every rank has read chunk `rank` of everyone: it may be overwritten
    std::memcpy(static_cast<char*>(data.data()) + n * rank_ * s_.real_bytes, s_.slots[rank_].result.data(),
                s_.slots[rank_].result.size());
  }

  void all_gather(Tensor& data) override {
    post(data.data(), data.numel());
    check_counts(data.numel(), "all_gather");
    const int64_t n = chunk(data.numel(), "all_gather");
    const size_t bytes = size_t(n) * s_.real_bytes;
    for (int q = 0; q < s_.world; ++q)
      if (q != rank_)
        std::memcpy(static_cast<char*>(data.data()) + q * bytes,
                    static_cast<const char*>(s_.slots[q].data) + q * bytes, bytes);
    s_.meet(rank_);  // chunk `rank` stays unchanged until everyone has copied it
  }

  std::vector<std::string> all_gather_bytes(const std::string& mine) override {
    s_.slots[rank_].bytes = &mine;
    s_.meet(rank_);
    std::vector<std::string> out;
    for (const auto& slot : s_.slots) out.push_back(*slot.bytes);
    s_.meet(rank_);
    return out;
  }

  void abort(const std::string& why) override { s_.abort(rank_, why); }

 private:
  void post(void* data, int64_t count) {
    s_.slots[rank_].data = data;
    s_.slots[rank_].count = count;
    s_.meet(rank_);
  }
  // Same element count on every rank, else every rank fails with the same message.
  void check_counts(int64_t n, const char* what) {
    for (int q = 0; q < s_.world; ++q)
      if (s_.slots[q].count != n)
        throw_runtime("{}: rank {} passed {} elements, rank {} passed {}", what, rank_, n, q, s_.slots[q].count);
  }
  int64_t chunk(int64_t n, const char* what) const {
    if (n % s_.world != 0) throw_runtime("{}: {} elements do not split into {} equal chunks", what, n, s_.world);
    return n / s_.world;
  }
  void sum_into_result(int64_t begin, int64_t n) {
    std::vector<char>& r = s_.slots[rank_].result;
    r.resize(size_t(n) * s_.real_bytes);
    if (s_.real_bytes == 4)
      sum_range(s_.slots, begin, n, reinterpret_cast<float*>(r.data()));
    else
      sum_range(s_.slots, begin, n, reinterpret_cast<double*>(r.data()));
  }

  ThreadGroup::State& s_;
  int rank_;
};

}  // namespace

ThreadGroup::ThreadGroup(int world_size, int real_bytes) : state_(std::make_unique<State>()) {
  if (world_size < 1) throw_usage("thread group: world size {} (expected >= 1)", world_size);
  if (real_bytes != 4 && real_bytes != 8) throw_usage("thread group: element size {} (expected 4 or 8)", real_bytes);
  state_->world = world_size;
  state_->real_bytes = real_bytes;
  state_->slots.resize(world_size);
}

ThreadGroup::~ThreadGroup() = default;

std::unique_ptr<Communicator> ThreadGroup::communicator(int rank) {
  if (rank < 0 || rank >= state_->world) throw_usage("thread group: rank {} outside [0, {})", rank, state_->world);
  return std::make_unique<ThreadCommunicator>(*state_, rank);
}

}  // namespace mds::dist
