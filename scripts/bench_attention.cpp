// Benchmark of the CPU sliding-window + global attention, forward + backward,
// at growing sequence lengths (built and run by scripts/bench-attention.sh).
// Shape: B = 1, 12 heads x 64 (H = 768), window 256 per side, globals [CLS]
// and the source [SEP]; prints one JSON line per length.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/cpu_backend.h"

using namespace mds;

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int window = argc > 2 ? std::atoi(argv[2]) : 256;
  std::vector<int> lengths;
  for (int i = 3; i < argc; ++i) lengths.push_back(std::atoi(argv[i]));
  if (lengths.empty()) lengths = {1024, 4096, 16384};
  auto be = make_cpu_backend(threads);
  const int heads = 12, D = 64, H = heads * D;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int L : lengths) {
    AttentionShape s;
    s.batch = 1;
    s.seq_len = L;
    s.heads = heads;
    s.head_dim = D;
    s.window = window;
    s.dilation.assign(heads, 1);
    AttentionPattern p;
    std::vector<uint8_t> valid(L, 1), glob(L, 0);
    glob[0] = glob[L / 2] = 1;
    std::vector<int32_t> gpos = {0, L / 2}, gcount = {2};
    p.max_globals = 2;
    p.valid = be->alloc({L}, ElemType::u8);
    be->upload(p.valid, valid.data());
    p.is_global = be->alloc({L}, ElemType::u8);
    be->upload(p.is_global, glob.data());
    p.global_pos = be->alloc({2}, ElemType::i32);
    be->upload(p.global_pos, gpos.data());
    p.global_count = be->alloc({1}, ElemType::i32);
    be->upload(p.global_count, gcount.data());
    std::vector<float> h(size_t(L) * 3 * H);
    for (auto& x : h) x = nd(rng);
    Tensor qkv = be->alloc({L, 3 * H}), out = be->alloc({L, H}), lse = be->alloc({heads * L});
    be->upload(qkv, h.data());
    Tensor dqkv = be->alloc({L, 3 * H});
    be->attention_forward(s, p, qkv, out, lse);  // warm-up
    const int reps = L <= 4096 ? 3 : 1;
    // Wall time, and process CPU time (all threads), which is less sensitive
    // to other load on a shared machine.
    double fwd = 0, bwd = 0, cpu = 0;
    for (int r = 0; r < reps; ++r) {
      const std::clock_t c0 = std::clock();
      auto t0 = std::chrono::steady_clock::now();
      be->attention_forward(s, p, qkv, out, lse);
      auto t1 = std::chrono::steady_clock::now();
      be->attention_backward(s, p, qkv, out, lse, out, dqkv);
      auto t2 = std::chrono::steady_clock::now();
      cpu += double(std::clock() - c0) / CLOCKS_PER_SEC / reps;
      fwd += std::chrono::duration<double>(t1 - t0).count() / reps;
      bwd += std::chrono::duration<double>(t2 - t1).count() / reps;
    }
    std::printf("{\"L\": %d, \"heads\": %d, \"head_dim\": %d, \"window\": %d, \"threads\": %d, "
                "\"forward_s\": %.4f, \"backward_s\": %.4f, \"total_s\": %.4f, \"cpu_s\": %.4f, "
                "\"cpu_us_per_token\": %.2f}\n",
                L, heads, D, window, threads, fwd, bwd, fwd + bwd, cpu, 1e6 * cpu / L);
    std::fflush(stdout);
  }
  return 0;
}
