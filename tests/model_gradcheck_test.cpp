// Whole-model gradient check: every parameter of a tiny MoE-DiffuSeq model
// (sparse attention with dilation and globals, MoE top-2, dropout, soft
// absorbing state, t = 0 special case, importance weights) against central
// finite differences of the total loss, in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backend/rng.h"
#include "cpu/cpu_backend.h"
#include "gradcheck.h"
#include "model/model.h"

namespace mds {
namespace {

using namespace testing_util;

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 13;
  c.embed_dim = 4;
  c.hidden_dim = 8;
  c.layers = 2;
  c.heads = 2;
  c.ffn_dim = 6;
  c.time_embed_dim = 8;
  c.time_hidden_dim = 6;
  c.max_src_len = 6;
  c.max_trg_len = 4;
  c.dropout = 0.1;
  c.layer_norm_eps = 1e-5;
  c.attention_window = 2;
  c.attention_dilation = {1, 2};
  c.global_source_stride = 2;
  c.moe_experts = 3;
  c.moe_top_k = 2;
  c.moe_every = 1;
  c.diffusion_steps = 50;
  return c;
}

Batch tiny_batch(const ModelConfig& c) {
  return pack_batch({{{4, 5, 6, 7, 8}, {9, 10, 11}}, {{12, 4, 5}, {6, 7}}}, c, {101, 202});
}

struct Result {
  double worst = 0;
  std::string where;
  LossTerms terms;
  int absorbed = 0;  // target tokens replaced by m in this step
};

Result check_model(const ModelConfig& c, const std::vector<int32_t>& timesteps) {
  auto be = std::shared_ptr<Backend>(make_cpu_backend(1, CpuPrecision::f64));
  auto model = make_model(c, be, 42);
  const Batch batch = tiny_batch(c);
  const std::vector<double> weights = {1.3, 0.7};
  const uint64_t seed = 5;
  model->zero_grad();
  const LossTerms terms = model->forward_backward(batch, timesteps, weights, seed, 1.0);
  // Snapshot every analytic gradient first: the loss calls below accumulate more.
  std::vector<std::vector<double>> grads;
  for (auto& p : model->params().all()) grads.push_back(host(*be, p.grad));
  Result r;
  r.terms = terms;
  for (int b = 0; b < batch.batch_size; ++b)
    for (int l = 0; l < batch.seq_len; ++l) {
      const size_t i = size_t(b) * batch.seq_len + l;
      const double p = c.absorb_rate * model->schedule().sqrt_one_minus_alpha_bar(timesteps[b]);
      if (c.absorbing && batch.target_mask[i] && batch.valid[i] &&
          rng::uniform(rng::row_key(seed, batch.example_ids[b], l), rng::kSaltAbsorb, 0) < p)
        ++r.absorbed;
    }
  size_t index = 0;
  for (auto& p : model->params().all()) {
    const std::vector<double>& analytic = grads[index++];
    auto loss = [&] { return model->forward_backward(batch, timesteps, weights, seed, 1.0).total; };
    const double err = check_gradient(*be, p.value, analytic, loss, 6, 1e-5);
    if (std::getenv("MDS_GRAD_VERBOSE")) std::printf("  %-40s %.3e\n", p.name.c_str(), err);
    if (err > r.worst) r.worst = err, r.where = p.name;
  }
  std::printf("[gradcheck] model: max rel error %.3e (parameter %s)\n", r.worst, r.where.c_str());
  return r;
}

TEST(ModelGradcheck, TinyMoeModelAllParameters) {
  const Result r = check_model(tiny_config(), {17, 0});
  EXPECT_LT(r.worst, 1e-5) << r.where;
  EXPECT_GT(r.absorbed, 0);  // the absorbing branch is exercised
  EXPECT_EQ(r.terms.expert_load.size(), 2u);
}

TEST(ModelGradcheck, CapacityDenseFfnWholeSequenceLossAndDenseAttention) {
  ModelConfig c = tiny_config();
  c.moe_every = 2;                 // layer 0 dense FFN, layer 1 MoE
  c.moe_capacity_factor = 0.6;     // drops picks
  c.moe_top_k = 1;                 // Switch gate
  c.loss_region = "sequence";
  c.attention_window = 0;          // dense
  c.global_target = true;
  c.absorbing = false;
  const Result r = check_model(c, {49, 3});
  EXPECT_LT(r.worst, 1e-5) << r.where;
  EXPECT_GT(r.terms.moe_drop_fraction, 0.0);  // the capacity really drops picks
  EXPECT_EQ(r.terms.expert_load.size(), 1u);
}

}  // namespace
}  // namespace mds
