// Whole-model throughput benchmark (built as the `bench_model` target; run by
// scripts/bench-gpu.sh). Builds the MoE-DiffuSeq model on a backend at the
// shapes of docs/design.md §7 and times, per configuration, either a training step
// exactly as mds-train takes it (forward + backward, gradient norm, AdamW,
// EMA) or one denoising step as mds-sample takes it (the network's x0
// prediction from the EMA weights at one timestep). Prints one JSON line per
// configuration with the median step time, tokens/s, model TFLOP/s and peak
// device memory, in the field names of ../shared/bench/torch_reference.py so
// the two can be tabulated side by side.
//
// Usage: bench_model [--device auto|cuda|cuda-f32|cpu] [--mode train|sample]
//          [--seq-len L]... [--tokens-per-batch N] [--attn sliding|dense]
//          [--ffn moe|dense] [--steps N] [--warmup N] [--threads N]
//          [--layers N --d-model H --heads N --d-ffn F --d-emb d --vocab V
//           --experts E --topk k --window W --global-tokens G --dropout p]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/factory.h"
#include "core/error.h"
#include "model/batch.h"
#include "model/model.h"

using namespace mds;

namespace {

struct Options {
  std::string device = "auto", mode = "train", attn = "sliding", ffn = "moe";
  std::vector<int> seq_lens;
  int tokens_per_batch = 32768, steps = 10, warmup = 3, threads = 0;
  int layers = 12, d_model = 768, heads = 12, d_ffn = 3072, d_emb = 128, vocab = 32768;
  int experts = 8, topk = 2, window = 256, global_tokens = 16;
  double dropout = 0.1;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw_usage("{}: needs a value", a);
    const std::string v = argv[++i];
    auto num = [&]() {
      char* end = nullptr;
      const long x = std::strtol(v.c_str(), &end, 10);
      if (!end || *end || x < 0) throw_usage("{}: expected a non-negative integer, found '{}'", a, v);
      return int(x);
    };
    if (a == "--device") o.device = v;
    else if (a == "--mode") o.mode = v;
    else if (a == "--attn") o.attn = v;
    else if (a == "--ffn") o.ffn = v;
    else if (a == "--seq-len") o.seq_lens.push_back(num());
    else if (a == "--tokens-per-batch") o.tokens_per_batch = num();
    else if (a == "--steps") o.steps = num();
    else if (a == "--warmup") o.warmup = num();
    else if (a == "--threads") o.threads = num();
    else if (a == "--layers") o.layers = num();
    else if (a == "--d-model") o.d_model = num();
    else if (a == "--heads") o.heads = num();
    else if (a == "--d-ffn") o.d_ffn = num();
    else if (a == "--d-emb") o.d_emb = num();
    else if (a == "--vocab") o.vocab = num();
    else if (a == "--experts") o.experts = num();
    else if (a == "--topk") o.topk = num();
    else if (a == "--window") o.window = num();
    else if (a == "--global-tokens") o.global_tokens = num();
    else if (a == "--dropout") o.dropout = std::atof(v.c_str());
    else throw_usage("unknown option {}", a);
  }
  if (o.mode != "train" && o.mode != "sample") throw_usage("--mode: train or sample, found '{}'", o.mode);
  if (o.attn != "sliding" && o.attn != "dense") throw_usage("--attn: sliding or dense, found '{}'", o.attn);
  if (o.ffn != "moe" && o.ffn != "dense") throw_usage("--ffn: moe or dense, found '{}'", o.ffn);
  if (o.seq_lens.empty()) o.seq_lens = {1024};
  if (o.steps < 1) throw_usage("--steps must be >= 1");
  return o;
}

// Model FLOPs per token, counted as torch_reference.py counts them (useful
// FLOPs of the sparse pattern; training = 3 x forward), so MFU compares alike.
double model_flops_per_token(const Options& o, int L, bool train) {
  const double d = o.d_model, F = o.d_ffn;
  const double keys = o.attn == "dense" ? L : std::min<double>(L, 2.0 * o.window + 1 + o.global_tokens);
  const double attn = 2 * 4 * d * d + 2 * 2 * keys * d;
  const double ffn = 2 * 2 * d * F * (o.ffn == "moe" ? o.topk : 1) + (o.ffn == "moe" ? 2 * d * o.experts : 0);
  const double io = 2 * (o.d_emb * d + d * d) * 2 + (train ? 2.0 * o.vocab * o.d_emb : 0.0);
  const double fwd = o.layers * (attn + ffn) + io;
  return train ? 3 * fwd : fwd;
}

ModelConfig config_for(const Options& o, int L) {
  ModelConfig c;
  c.vocab_size = o.vocab;
  c.embed_dim = o.d_emb;
  c.hidden_dim = o.d_model;
  c.layers = o.layers;
  c.heads = o.heads;
  c.ffn_dim = o.d_ffn;
  // Half source, half target, as torch_reference.py's trg_mask: a packed
  // example is [CLS] src [SEP] trg-region, the region max_trg_len + 1 long.
  c.max_trg_len = L / 2 - 1;
  c.max_src_len = L - L / 2 - 2;
  c.dropout = o.dropout;
  c.attention_window = o.attn == "dense" ? 0 : o.window;
  // [CLS], the source [SEP] and every stride-th source token: global_tokens in all.
  const int src_globals = std::max(0, o.global_tokens - 2);
  c.global_source_stride = src_globals > 0 ? std::max(1, c.max_src_len / (src_globals + 1)) : 0;
  c.moe_experts = o.ffn == "moe" ? o.experts : 0;
  c.moe_top_k = o.topk;
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_one(const Options& o, int L, std::FILE* out) {
  const int B = std::max(1, o.tokens_per_batch / L);
  const ModelConfig c = config_for(o, L);
  auto backend = make_backend(o.device, o.threads > 0 ? o.threads : 1);
  auto model = make_model(c, backend, 1);
  std::mt19937 gen(7);
  std::uniform_int_distribution<int> tok(4, o.vocab - 1);
  std::vector<PairIds> recs(B);
  std::vector<uint64_t> ids(B);
  for (int b = 0; b < B; ++b) {
    recs[b].src.resize(c.max_src_len);
    recs[b].trg.resize(c.max_trg_len);
    for (auto& t : recs[b].src) t = tok(gen);
    for (auto& t : recs[b].trg) t = tok(gen);
    ids[b] = uint64_t(b);
  }
  const Batch batch = pack_batch(recs, c, ids);
  if (batch.seq_len != L) throw_runtime("bench: packed length {} != {}", batch.seq_len, L);
  const bool train = o.mode == "train";
  std::uniform_int_distribution<int> tdist(0, c.diffusion_steps - 1);
  OptimizerSettings opt;
  Tensor x_t, x0;
  if (!train) {
    x_t = backend->alloc({int64_t(B) * L, c.embed_dim});
    x0 = backend->alloc({int64_t(B) * L, c.embed_dim});
    std::vector<float> h(size_t(B) * L * c.embed_dim);
    std::normal_distribution<float> nd(0.f, 1.f);
    for (auto& v : h) v = nd(gen);
    backend->upload(x_t, h.data());
  }
  const std::vector<double> weights(B, 1.0);
  uint64_t seed = 1;
  auto step = [&]() {
    if (train) {
      std::vector<int32_t> t(B);
      for (auto& v : t) v = tdist(gen);
      model->zero_grad();
      model->forward_backward(batch, t, weights, seed++, 1.0);
      bool finite = true;
      model->grad_norm(&finite);
      model->optimizer_step(opt);
      model->ema_update(0.9999);
    } else {
      model->predict_x0(batch, x_t, std::vector<int32_t>(B, c.diffusion_steps / 2), /*use_ema=*/true, x0);
    }
    backend->synchronize();
  };
  for (int i = 0; i < o.warmup; ++i) step();
  backend->reset_peak_memory();
  std::vector<double> times;
  for (int i = 0; i < o.steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2];
  const double toks = double(B) * L;
  const double flops = model_flops_per_token(o, L, train) * toks;
  const MemoryStats mem = backend->memory_stats();
  const nlohmann::json row = {{"ok", true},
                              {"impl", "mds"},
                              {"device", backend->name()},
                              {"mode", o.mode},
                              {"seq_len", L},
                              {"batch", B},
                              {"attn", o.attn},
                              {"ffn", o.ffn},
                              {"step_s", med},
                              {"tokens_per_s", std::round(toks / med)},
                              {"model_tflops", flops / med / 1e12},
                              {"peak_gib", double(mem.peak_bytes) / double(1u << 30)},
                              {"params_m", double(model->parameter_count()) / 1e6}};
  std::fprintf(out, "%s\n", row.dump().c_str());
  std::fflush(out);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    for (int L : o.seq_lens) {
      try {
        run_one(o, L, stdout);
      } catch (const Error& e) {
        // One failed length (out of memory at 32k) must not hide the others.
        const nlohmann::json row = {{"ok", false}, {"impl", "mds"},  {"mode", o.mode}, {"seq_len", L},
                                    {"attn", o.attn}, {"ffn", o.ffn}, {"error", e.what()}};
        std::printf("%s\n", row.dump().c_str());
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_model: %s\n", e.what());
    return static_cast<int>(e.code());
  }
}
