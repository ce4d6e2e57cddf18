// parallel_for over std::thread (parallel.h).
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

namespace mds {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

void parallel_for(size_t n, int threads, const std::function<void(size_t, int)>& work) {
  if (n == 0) return;
  const int t = static_cast<int>(std::min<size_t>(n, static_cast<size_t>(std::max(threads, 1))));
  std::vector<std::exception_ptr> errors(n);
  std::atomic<size_t> next{0};
  auto loop = [&](int thread) {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        work(i, thread);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(t - 1));
  for (int k = 1; k < t; ++k) pool.emplace_back(loop, k);
  loop(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace mds
