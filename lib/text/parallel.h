// Minimal data parallelism for the text tools: run numbered work items on a
// few threads (the caller's included) and rethrow the first failure in item
// order, so errors are reported as a serial run would report them.
#pragma once

#include <cstddef>
#include <functional>

namespace mds {

// Calls work(item, thread) for every item in [0, n), with thread in
// [0, threads). Items are handed out dynamically. If some items throw, the
// exception of the lowest-numbered one is rethrown after all threads finish.
void parallel_for(size_t n, int threads, const std::function<void(size_t item, int thread)>& work);

// Threads to use for a --threads value: 0 means all hardware threads.
int resolve_threads(int requested);

}  // namespace mds
