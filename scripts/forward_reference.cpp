// forward_reference: one forward pass of an mds checkpoint's denoiser written
// as safetensors, for scripts/check-safetensors-torch.py to compare against
// its own PyTorch implementation of the network (built as a target, not
// installed, like bench_model). Two examples of different source lengths
// (so padding and the valid mask are exercised) are packed as mds-sample
// packs them; x_t is seeded Gaussian noise; timesteps are T/2 and T-1; the
// network runs with the EMA weights, as mds-sample uses them.
//
// Usage: forward_reference CHECKPOINT OUT.safetensors [--device cpu|cuda|cuda-f32] [--seed N]
// Output tensors: tokens I32 [B,L], valid U8 [B,L], is_global U8 [B,L],
// model_times F64 [B], x_t F32 [B,L,d], x0_hat F32 [B,L,d]; metadata
// "mds.config" (the checkpoint's config) and "device".
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "runtime/factory.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/batch.h"
#include "model/model.h"

using namespace mds;

namespace {

template <typename T>
SafeTensor tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, const std::vector<T>& v) {
  SafeTensor t;
  t.name = name;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

int run(int argc, char** argv) {
  if (argc < 3) throw_usage("usage: forward_reference CHECKPOINT OUT.safetensors [--device D] [--seed N]");
  const std::string in = argv[1], out = argv[2];
  std::string device = "cpu";
  uint64_t seed = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--device") == 0) device = argv[i + 1];
    else if (std::strcmp(argv[i], "--seed") == 0) seed = std::stoull(argv[i + 1]);
    else throw_usage("unknown flag {}", argv[i]);
  }
  const Container ck = read_container(in, "checkpoint");
  if (!ck.meta.contains("config") || !ck.meta["config"].contains("model"))
    throw_bad_input("{}: no \"config\".\"model\" object", in);
  const ModelConfig config = model_config_from_json(ck.meta["config"]["model"]);
  auto model = make_model(config, make_backend(device, 1), 0);
  model->load_state(ck);

  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int32_t> id(kMaskId + 1, static_cast<int32_t>(config.vocab_size - 1));
  std::vector<PairIds> records(2);
  const int src_len[2] = {std::min(config.max_src_len, 13), std::min(config.max_src_len, 4)};
  for (int b = 0; b < 2; ++b) {
    for (int i = 0; i < src_len[b]; ++i) records[b].src.push_back(id(gen));
    for (int i = 0; i < std::min(config.max_trg_len, 5); ++i) records[b].trg.push_back(id(gen));
  }
  const Batch batch = pack_batch(records, config, {0, 1});
  const int B = batch.batch_size, L = batch.seq_len, d = config.embed_dim, T = config.diffusion_steps;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x_t(size_t(B) * L * d);
  for (float& v : x_t) v = normal(gen);
  const std::vector<int32_t> timesteps{T / 2, T - 1};
  const std::vector<float> x0 = model->predict_x0(batch, x_t, timesteps, /*use_ema=*/true);

  std::vector<uint8_t> is_global(size_t(B) * L, 0);
  const auto g = global_positions(batch, config);
  for (int b = 0; b < B; ++b)
    for (int32_t p : g[b]) is_global[size_t(b) * L + p] = 1;
  std::vector<double> times;
  for (int32_t t : timesteps) times.push_back(model->schedule().model_time(t));

  SafeTensorsFile f;
  f.tensors.push_back(tensor("tokens", DType::i32, {B, L}, batch.tokens));
  f.tensors.push_back(tensor("valid", DType::u8, {B, L}, batch.valid));
  f.tensors.push_back(tensor("is_global", DType::u8, {B, L}, is_global));
  f.tensors.push_back(tensor("model_times", DType::f64, {B}, times));
  f.tensors.push_back(tensor("x_t", DType::f32, {B, L, d}, x_t));
  f.tensors.push_back(tensor("x0_hat", DType::f32, {B, L, d}, x0));
  f.metadata["mds.config"] = ck.meta["config"].dump();
  f.metadata["device"] = model->backend_name();
  write_safetensors(out, f);
  std::fprintf(stderr, "forward_reference: wrote %s (B = %d, L = %d, d = %d, backend %s)\n", out.c_str(), B, L, d,
               model->backend_name().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const Error& e) {
    std::fprintf(stderr, "forward_reference: error: %s\n", e.what());
    return e.exit_status();
  }
}
