// A small fixed pool of worker threads owned by a cpu::Context (never global).
// run() spreads independent tasks over the workers and the calling thread and
// blocks until all are done; exceptions from tasks are rethrown to the caller.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mds {
namespace cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // fn(task) for every task in [0, tasks). A call made while the pool is busy
  // (nested parallelism) runs serially on the calling thread.
  void run(int64_t tasks, const std::function<void(int64_t)>& fn);

 private:
  void worker_loop();
  void drain(const std::function<void(int64_t)>* job, int64_t tasks);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t tasks_ = 0;
  uint64_t generation_ = 0;
  int finished_ = 0;
  bool stop_ = false;
  std::atomic<int64_t> next_{0};
  std::atomic<bool> busy_{false};
  std::exception_ptr error_;
};

}  // namespace cpu
}  // namespace mds
