// Data parallelism over independent work items, for the text tools, the
// metrics and the sampler. Two shapes of loop:
// - parallel_for: numbered items on a few threads (the caller's included);
//   the failure of the lowest-numbered item is rethrown, so errors read as a
//   serial run would report them.
// - parallel_for_each: each thread builds its own state (scorer, caches) once;
//   items are handed out in small chunks so long and short ones balance;
//   results are written by index, so output never depends on the thread count.
//   parallel_map is the same loop collecting one result per item.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace mds {

// Calls work(item, thread) for every item in [0, n), with thread in
// [0, threads). Items are handed out dynamically. If some items throw, the
// exception of the lowest-numbered one is rethrown after all threads finish.
void parallel_for(size_t n, int threads, const std::function<void(size_t item, int thread)>& work);

// Threads to use for a --threads value: 0 means all hardware threads.
int resolve_threads(int requested);

// resolve_threads(requested), never more than `items` (at least 1).
inline int effective_threads(int requested, size_t items) {
  const int t = resolve_threads(requested);
  return items < static_cast<size_t>(t) ? static_cast<int>(std::max<size_t>(1, items)) : t;
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

// parallel_for_each collecting out[i] = fn(state, i) for every item i.
template <typename MakeState, typename Fn>
auto parallel_map(size_t n, int threads, MakeState&& make_state, Fn&& fn) {
  using State = decltype(make_state());
  std::vector<std::decay_t<std::invoke_result_t<Fn&, State&, size_t>>> out(n);
  parallel_for_each(n, threads, make_state, [&](State& state, size_t i) { out[i] = fn(state, i); });
  return out;
}

}  // namespace mds
