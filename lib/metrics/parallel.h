// Runs independent per-example work on several threads. Each thread builds its
// own state (scorer, caches) once; examples are handed out in small chunks so
// that long and short examples balance. Results are written by index, so the
// output never depends on the thread count.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mds {

// Threads to use for `requested` (0 = all hardware threads), never more than items.
inline int effective_threads(int requested, size_t items) {
  int t = requested > 0 ? requested : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (items < static_cast<size_t>(t)) t = static_cast<int>(std::max<size_t>(1, items));
  return t;
}

// For i in [0, n): fn(state, i), with state = make_state() once per thread.
// The first exception thrown by any worker is rethrown after all have stopped.
template <typename MakeState, typename Fn>
void parallel_for_each(size_t n, int threads, MakeState&& make_state, Fn&& fn) {
  int t = effective_threads(threads, n);
  const size_t chunk = std::max<size_t>(1, std::min<size_t>(16, n / (size_t(t) * 8) + 1));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    try {
      auto state = make_state();
      while (!failed.load(std::memory_order_relaxed)) {
        size_t begin = next.fetch_add(chunk);
        if (begin >= n) break;
        size_t end = std::min(n, begin + chunk);
        for (size_t i = begin; i < end; ++i) fn(state, i);
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  if (t <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(t));
    for (int k = 0; k < t; ++k) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace mds
