// CPU context: owns the worker pool; parallel_for splits ranges into chunks.
#include "cpu/context.h"

#include <algorithm>

#include "core/error.h"

namespace mds {
namespace cpu {

Context::Context(int threads) : threads_(threads) {
  if (threads < 1) throw_usage("threads must be >= 1, got {}", threads);
  pool_ = std::make_unique<ThreadPool>(threads);
}

void Context::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  // A few chunks per thread balances uneven rows without much overhead.
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, static_cast<int64_t>(threads_) * 4);
  if (chunks <= 1 || threads_ == 1) {
    fn(0, n);
    return;
  }
  const int64_t step = (n + chunks - 1) / chunks;
  chunks = (n + step - 1) / step;
  pool_->run(chunks, [&](int64_t c) {
    const int64_t b = c * step;
    fn(b, std::min(n, b + step));
  });
}

}  // namespace cpu
}  // namespace mds
