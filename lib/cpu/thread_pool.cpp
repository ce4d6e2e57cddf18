// Fixed worker pool: one generation per run(); the caller waits until every
// worker has seen the generation, so no worker can touch a finished job.
#include "cpu/thread_pool.h"

namespace mds {
namespace cpu {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::drain(const std::function<void(int64_t)>* job, int64_t tasks) {
  for (int64_t t; (t = next_.fetch_add(1)) < tasks;) {
    try {
      (*job)(t);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t)>* job;
    int64_t tasks;
    {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      tasks = tasks_;
    }
    drain(job, tasks);
    {
      std::lock_guard<std::mutex> lk(mu_);
      ++finished_;
    }
    done_.notify_all();
  }
}

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  bool expected = false;
  if (workers_.empty() || tasks == 1 || !busy_.compare_exchange_strong(expected, true)) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    tasks_ = tasks;
    next_.store(0);
    finished_ = 0;
    error_ = nullptr;
    ++generation_;
  }
  wake_.notify_all();
  drain(&fn, tasks);
  std::exception_ptr err;
  {
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return finished_ == static_cast<int>(workers_.size()); });
    job_ = nullptr;
    err = error_;
    error_ = nullptr;
  }
  busy_.store(false);
  if (err) std::rethrow_exception(err);
}

}  // namespace cpu
}  // namespace mds
