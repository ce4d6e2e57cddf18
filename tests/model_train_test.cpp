// Model behaviour on the float CPU backend: the loss goes down under a few
// AdamW steps, steps are reproducible and independent of batch composition,
// sparse == dense attention at the model level when the window covers L,
// dropless vs capacity MoE, save/load round trip, inference entry points.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "cpu/cpu_backend.h"
#include "model/model.h"

namespace mds {
namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.vocab_size = 40;
  c.embed_dim = 16;
  c.hidden_dim = 32;
  c.layers = 2;
  c.heads = 4;
  c.ffn_dim = 64;
  c.time_embed_dim = 16;
  c.time_hidden_dim = 32;
  c.max_src_len = 12;
  c.max_trg_len = 8;
  c.attention_window = 4;
  c.moe_experts = 4;
  c.moe_top_k = 2;
  c.diffusion_steps = 100;
  return c;
}

std::vector<PairIds> records() {
  return {{{5, 6, 7, 8, 9, 10}, {11, 12, 13}},
          {{14, 15, 16}, {17, 18, 19, 20}},
          {{21, 22, 23, 24, 25, 26, 27, 28, 29, 30}, {31, 32}},
          {{33, 34}, {35, 36, 37, 38, 39}}};
}

std::shared_ptr<Backend> cpu() { return std::shared_ptr<Backend>(make_cpu_backend(2)); }

TEST(ModelTrain, LossDecreasesUnderAdamW) {
  const ModelConfig c = small_config();
  auto model = make_model(c, cpu(), 1);
  const Batch b = pack_batch(records(), c, {0, 1, 2, 3});
  const std::vector<int32_t> t = {5, 30, 60, 90};
  const std::vector<double> w(4, 1.0);
  OptimizerSettings opt;
  opt.lr = 3e-3;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    model->zero_grad();
    // Same timesteps and noise every step: a fixed objective must go down.
    const LossTerms l = model->forward_backward(b, t, w, 77, 1.0);
    ASSERT_TRUE(std::isfinite(l.total));
    bool finite = false;
    EXPECT_GT(model->grad_norm(&finite), 0.0);
    EXPECT_TRUE(finite);
    model->optimizer_step(opt);
    model->ema_update(0.9);
    if (step == 0) first = l.total;
    last = l.total;
  }
  std::printf("[train] loss %.4f -> %.4f after 40 steps\n", first, last);
  EXPECT_LT(last, 0.6 * first);
  EXPECT_EQ(model->optimizer_steps(), 40);
}

TEST(ModelTrain, ReproducibleAndIndependentOfBatchComposition) {
  const ModelConfig c = small_config();
  auto model = make_model(c, cpu(), 3);
  const auto rec = records();
  const Batch all = pack_batch(rec, c, {0, 1, 2, 3});
  const LossTerms a = model->evaluate(all, {10, 20, 30, 40}, 9);
  const LossTerms a2 = model->evaluate(all, {10, 20, 30, 40}, 9);
  EXPECT_EQ(a.total, a2.total);
  // Example 1 alone (shorter L, other neighbours) gets the same noise and loss.
  const Batch one = pack_batch({rec[1]}, c, {1});
  const LossTerms s = model->evaluate(one, {20}, 9);
  EXPECT_NEAR(s.per_example[0], a.per_example[1], 1e-5 * std::abs(a.per_example[1]));
  // A different seed gives different noise.
  EXPECT_NE(model->evaluate(all, {10, 20, 30, 40}, 10).total, a.total);
  // Dropout draws are also keyed by example and position.
  auto m1 = make_model(c, cpu(), 3), m2 = make_model(c, cpu(), 3);
  const LossTerms f1 = m1->forward_backward(all, {10, 20, 30, 40}, {1, 1, 1, 1}, 5, 1.0);
  const LossTerms f2 = m2->forward_backward(one, {20}, {1}, 5, 1.0);
  EXPECT_NEAR(f2.per_example[0], f1.per_example[1], 1e-5 * std::abs(f1.per_example[1]));
}

TEST(ModelTrain, SparseEqualsDenseWhenWindowCoversSequence) {
  ModelConfig sparse = small_config(), dense = small_config();
  sparse.attention_window = 1000;  // covers every L here
  dense.attention_window = 0;      // dense
  auto ms = make_model(sparse, cpu(), 4), md = make_model(dense, cpu(), 4);
  const Batch b = pack_batch(records(), sparse, {0, 1, 2, 3});
  const LossTerms ls = ms->evaluate(b, {1, 2, 3, 4}, 2), ld = md->evaluate(b, {1, 2, 3, 4}, 2);
  EXPECT_NEAR(ls.total, ld.total, 1e-6 * std::abs(ld.total));
  // A narrow window really changes the result.
  ModelConfig narrow = small_config();
  narrow.attention_window = 1;
  auto mn = make_model(narrow, cpu(), 4);
  EXPECT_GT(std::abs(mn->evaluate(b, {1, 2, 3, 4}, 2).total - ld.total), 1e-6);
}

TEST(ModelTrain, DroplessVersusCapacityMoe) {
  ModelConfig dropless = small_config(), capped = small_config();
  capped.moe_capacity_factor = 0.5;
  auto a = make_model(dropless, cpu(), 6), b = make_model(capped, cpu(), 6);
  const Batch batch = pack_batch(records(), dropless, {0, 1, 2, 3});
  const LossTerms la = a->evaluate(batch, {50, 50, 50, 50}, 1), lb = b->evaluate(batch, {50, 50, 50, 50}, 1);
  EXPECT_EQ(la.moe_drop_fraction, 0.0);
  // cf 0.5: capacity ceil(k * tokens / E * 0.5) per expert keeps at most
  // about half of the k * tokens picks.
  int64_t tokens = 0;
  for (uint8_t v : batch.valid) tokens += v;
  const double kept_max = 4 * std::ceil(2.0 * tokens / 4 * 0.5);
  EXPECT_GE(lb.moe_drop_fraction, 1.0 - kept_max / (2.0 * tokens) - 1e-12);
  EXPECT_GT(lb.moe_drop_fraction, 0.4);
  ASSERT_EQ(la.expert_load.size(), 2u);
  for (const auto& layer : la.expert_load) {
    double s = 0;
    for (double x : layer) s += x;
    EXPECT_NEAR(s, 1.0, 1e-12);
  }
  // Same first-layer routing (same weights, same input); the outputs differ
  // because of the drops (and so does the second layer's routing).
  EXPECT_EQ(la.expert_load[0], lb.expert_load[0]);
  EXPECT_NE(la.mse, lb.mse);
  EXPECT_GT(la.moe_balance, 0.0);
  EXPECT_GT(la.moe_z, 0.0);
}

TEST(ModelTrain, SaveLoadRoundTripIsExact) {
  const ModelConfig c = small_config();
  auto a = make_model(c, cpu(), 8);
  const Batch b = pack_batch(records(), c, {0, 1, 2, 3});
  OptimizerSettings opt;
  for (int i = 0; i < 2; ++i) {
    a->zero_grad();
    a->forward_backward(b, {3, 4, 5, 6}, {1, 1, 1, 1}, i, 1.0);
    a->optimizer_step(opt);
    a->ema_update(0.5);
  }
  Container ck;
  a->save_state(ck);
  EXPECT_EQ(ck.sections.size(), 4 * a->params().size());
  auto r = make_model(c, cpu(), 999);
  r->load_state(ck);
  EXPECT_EQ(r->optimizer_steps(), 2);
  Container ck2;
  r->save_state(ck2);
  ASSERT_EQ(ck.sections.size(), ck2.sections.size());
  for (size_t i = 0; i < ck.sections.size(); ++i) {
    EXPECT_EQ(ck.sections[i].name, ck2.sections[i].name);
    EXPECT_EQ(ck.sections[i].data, ck2.sections[i].data) << ck.sections[i].name;
  }
  // Continuing both gives identical steps.
  for (auto* m : {a.get(), r.get()}) {
    m->zero_grad();
    m->forward_backward(b, {7, 8, 9, 10}, {1, 1, 1, 1}, 5, 1.0);
    m->optimizer_step(opt);
  }
  EXPECT_EQ(a->evaluate(b, {1, 2, 3, 4}, 1).total, r->evaluate(b, {1, 2, 3, 4}, 1).total);
  // A checkpoint of another shape is rejected with the section named.
  ModelConfig other = c;
  other.hidden_dim = 64;
  auto o = make_model(other, cpu(), 1);
  try {
    o->load_state(ck);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos);
  }
}

TEST(ModelTrain, InferenceEntryPoints) {
  const ModelConfig c = small_config();
  auto model = make_model(c, cpu(), 2);
  Backend& be = model->backend();
  const Batch b = pack_batch({{{5, 6, 7}, {}}}, c, {0});
  const int64_t N = b.seq_len;
  std::vector<float> x(N * c.embed_dim, 0.25f);
  const auto y = model->predict_x0(b, x, {1999 % c.diffusion_steps}, true);
  ASSERT_EQ(y.size(), x.size());
  for (float v : y) ASSERT_TRUE(std::isfinite(v));
  // Integer timesteps and their rescaled model times agree.
  Tensor xt = be.alloc({N, c.embed_dim}), o1 = be.alloc({N, c.embed_dim}), o2 = be.alloc({N, c.embed_dim});
  be.upload(xt, x.data());
  model->predict_x0(b, xt, {40}, false, o1);
  model->predict_x0_at(b, xt, {model->schedule().model_time(40)}, false, o2);
  std::vector<float> h1(x.size()), h2(x.size());
  be.download(o1, h1.data());
  be.download(o2, h2.data());
  EXPECT_EQ(h1, h2);
  // Rounding an embedding returns its token; argmax decode returns ids in range.
  Tensor ids = be.alloc({3}, ElemType::i32);
  const std::vector<int32_t> want = {7, 21, 39};
  be.upload(ids, want.data());
  Tensor e = model->embed(ids, true);
  Tensor back = model->round_nearest(e, true);
  std::vector<int32_t> got(3);
  be.download(back, got.data());
  EXPECT_EQ(got, want);
  Tensor am = model->logits_argmax(e, true);
  be.download(am, got.data());
  for (int32_t g : got) EXPECT_TRUE(g >= 0 && g < c.vocab_size);
  EXPECT_EQ(model->mean_embed(true).numel(), c.embed_dim);
  EXPECT_GT(model->parameter_count(), 0);
  EXPECT_EQ(model->backend_name(), "cpu");
}

}  // namespace
}  // namespace mds
