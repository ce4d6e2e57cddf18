// Execution context of the CPU backend: the thread count and the pool that
// serves it. Passed explicitly to every CPU operation (no global state).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "cpu/thread_pool.h"

namespace mds {
namespace cpu {

class Context {
 public:
  explicit Context(int threads = 1);
  int threads() const { return threads_; }
  // fn(begin, end) over [0, n) in chunks of at least `grain` items.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) const;

 private:
  int threads_;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace cpu
}  // namespace mds
