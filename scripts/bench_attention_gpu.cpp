// GPU benchmark of the sliding-window + global attention kernel (built as the
// `bench_attention_gpu` target with CUDA; run by scripts/bench-attention-gpu.sh
// beside PyTorch's compiled FlexAttention on the same mask). Random bf16
// q/k/v/dout, every example full length, `globals` global tokens spread evenly
// over each example. Times the forward and the backward (median of --reps
// after --warmup) and counts FLOPs over the useful (unmasked) score entries
// only: 4·D per entry forward, 10·D backward (FlashAttention-2's convention:
// five products of which the recomputation of the scores is one).
// Prints one JSON line per configuration.
//
// Usage: bench_attention_gpu [--seq-len L]... [--tokens N] [--head-dim D]...
//          [--width W] [--window w] [--globals G] [--reps N] [--warmup N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/context.h"

using namespace mds;
using namespace mds::cuda;

namespace {

struct Options {
  std::vector<int> seq_lens, head_dims;
  long long tokens = 65536;
  int width = 768, window = 256, globals = 16, reps = 10, warmup = 3;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw_usage("{}: needs a value", a);
    const long v = std::strtol(argv[++i], nullptr, 10);
    if (v <= 0) throw_usage("{}: expected a positive integer, found '{}'", a, argv[i]);
    if (a == "--seq-len") o.seq_lens.push_back(int(v));
    else if (a == "--head-dim") o.head_dims.push_back(int(v));
    else if (a == "--tokens") o.tokens = v;
    else if (a == "--width") o.width = int(v);
    else if (a == "--window") o.window = int(v);
    else if (a == "--globals") o.globals = int(v);
    else if (a == "--reps") o.reps = int(v);
    else if (a == "--warmup") o.warmup = int(v);
    else throw_usage("unknown option {}", a);
  }
  if (o.seq_lens.empty()) o.seq_lens = {4096, 16384, 65536};
  if (o.head_dims.empty()) o.head_dims = {64, 128};
  return o;
}

// Useful score entries of one example and head: query i sees key j iff
// |i - j| <= window, or i or j is global.
long long useful_entries(int L, int window, const std::vector<int>& gpos) {
  std::vector<char> is_g(L, 0);
  for (int g : gpos) is_g[g] = 1;
  const long long G = (long long)gpos.size();
  long long total = 0;
  for (int i = 0; i < L; ++i) {
    if (is_g[i]) {
      total += L;
      continue;
    }
    const int lo = std::max(0, i - window), hi = std::min(L - 1, i + window);
    long long band = hi - lo + 1, g_in_band = 0;
    for (int g : gpos) g_in_band += (g >= lo && g <= hi);
    total += band + (G - g_in_band);
  }
  return total;
}

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  Context ctx(0);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  cudaEvent_t e0, e1;
  MDS_CUDA_CHECK(cudaEventCreate(&e0));
  MDS_CUDA_CHECK(cudaEventCreate(&e1));
  for (int D : o.head_dims) {
    for (int L : o.seq_lens) {
      const int B = int(std::max<long long>(1, o.tokens / L)), heads = o.width / D, HD = heads * D;
      const long long rows = (long long)B * L;
      std::vector<int> gpos;
      for (int g = 0; g < o.globals; ++g) gpos.push_back(int((long long)g * L / o.globals));
      AttentionGlobals globals(ctx, B, L, {[&] {
                                 AttentionGlobals::Ranges r;
                                 for (int g : gpos) r.push_back({g, g + 1});
                                 return r;
                               }()});
      // q|k|v as one [rows, 3·HD] buffer (the model's layout), dout, out, gradients.
      std::vector<bf16> host(size_t(rows) * 3 * HD);
      for (auto& x : host) x = float_to_bf16(u(rng));
      DeviceBuffer qkv = ctx.alloc(host.size() * 2), dqkv = ctx.alloc(host.size() * 2);
      ctx.upload(qkv.data(), host.data(), host.size() * 2);
      host.resize(size_t(rows) * HD);
      DeviceBuffer dout = ctx.alloc(host.size() * 2), out = ctx.alloc(host.size() * 2);
      ctx.upload(dout.data(), host.data(), host.size() * 2);
      DeviceBuffer lse = ctx.alloc(size_t(B) * heads * L * 4);
      std::vector<int32_t> lens(B, L);
      DeviceBuffer lengths = ctx.alloc(size_t(B) * 4);
      ctx.upload(lengths.data(), lens.data(), lens.size() * 4);
      ctx.synchronize();

      AttentionShape shape{B, L, heads, D};
      AttentionPattern pattern{o.window, {}};
      const bf16* base = qkv.as<bf16>();
      AttentionForwardArgs fa;
      fa.q = base, fa.k = base + HD, fa.v = base + 2 * HD, fa.ld_qkv = 3 * HD;
      fa.lengths = lengths.as<int32_t>(), fa.globals = &globals;
      fa.out = out.as<bf16>(), fa.ld_out = HD, fa.lse = lse.as<float>();
      AttentionBackwardArgs ba;
      ba.q = fa.q, ba.k = fa.k, ba.v = fa.v, ba.ld_qkv = fa.ld_qkv, ba.lengths = fa.lengths, ba.globals = &globals;
      ba.out = fa.out, ba.dout = dout.as<bf16>(), ba.ld_out = HD, ba.lse = fa.lse;
      bf16* d = dqkv.as<bf16>();
      ba.dq = d, ba.dk = d + HD, ba.dv = d + 2 * HD, ba.ld_dqkv = 3 * HD;

      std::vector<float> tf, tb;
      for (int r = 0; r < o.warmup + o.reps; ++r) {
        float ms_f = 0, ms_b = 0;
        MDS_CUDA_CHECK(cudaEventRecord(e0, ctx.stream()));
        attention_forward(ctx, shape, pattern, fa);
        MDS_CUDA_CHECK(cudaEventRecord(e1, ctx.stream()));
        MDS_CUDA_CHECK(cudaEventSynchronize(e1));
        MDS_CUDA_CHECK(cudaEventElapsedTime(&ms_f, e0, e1));
        MDS_CUDA_CHECK(cudaEventRecord(e0, ctx.stream()));
        attention_backward(ctx, shape, pattern, ba);
        MDS_CUDA_CHECK(cudaEventRecord(e1, ctx.stream()));
        MDS_CUDA_CHECK(cudaEventSynchronize(e1));
        MDS_CUDA_CHECK(cudaEventElapsedTime(&ms_b, e0, e1));
        if (r >= o.warmup) tf.push_back(ms_f), tb.push_back(ms_b);
      }
      const double entries = double(useful_entries(L, o.window, gpos)) * B * heads;
      const double f_ms = median(tf), b_ms = median(tb);
      std::printf(
          "{\"impl\": \"mds\", \"gpu\": \"%s\", \"seq_len\": %d, \"batch\": %d, \"heads\": %d, \"head_dim\": %d, "
          "\"window\": %d, \"globals\": %d, \"useful_entries\": %.0f, \"fwd_ms\": %.4f, \"bwd_ms\": %.4f, "
          "\"fwd_tflops\": %.1f, \"bwd_tflops\": %.1f, \"fwd_ns_per_token\": %.3f, \"bwd_ns_per_token\": %.3f}\n",
          ctx.info().name.c_str(), L, B, heads, D, o.window, o.globals, entries, f_ms, b_ms,
          4.0 * D * entries / (f_ms * 1e-3) / 1e12, 10.0 * D * entries / (b_ms * 1e-3) / 1e12,
          f_ms * 1e6 / double(rows), b_ms * 1e6 / double(rows));
      std::fflush(stdout);
    }
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_attention_gpu: %s\n", e.what());
  return 1;
}
