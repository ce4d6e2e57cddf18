// The training loop against a small real model (tests/train_test_model.h):
// learning happens, resume is bit-identical to an uninterrupted run, a signal
// stops with a valid checkpoint, non-finite updates stop or are skipped,
// checkpoints never hold NaN, metrics lines carry the documented fields.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "train/checkpoint.h"
#include "train/trainer.h"
#include "checkpoint_fixtures.h"
#include "test_files.h"
#include "train_test_model.h"

namespace tr = mds::train;
using mds::Container;
using mds::testing::LinearTestModel;
using mds::testing::TempDir;
using mds::testing::expect_same_sections;
namespace fs = std::filesystem;

namespace {

constexpr int kT = 8, kMaxSrc = 30, kMaxTrg = 8;

tr::TrainConfig small_config() {
  tr::TrainConfig c;
  c.steps = 20;
  c.batch_size = 4;
  c.grad_accum = 2;
  c.lr = 0.05;
  c.warmup_steps = 3;
  c.lr_schedule = tr::LrSchedule::cosine;
  c.final_lr = 0.001;
  c.grad_clip = 0.5;
  c.weight_decay = 0.01;
  c.ema_decay = 0.9;
  c.timestep_sampler = tr::TimestepSampling::loss_aware;
  c.loss_aware_history = 2;
  c.bucket_pool = 2;
  c.checkpoint_every = 0;
  c.log_every = 0;
  c.valid_every = 0;
  c.seed = 77;
  return c;
}

tr::TrainerSetup setup_for(const std::string& ckpt, tr::Reporter* rep = nullptr) {
  tr::TrainerSetup s;
  s.num_timesteps = kT;
  s.max_src_len = kMaxSrc;
  s.max_trg_len = kMaxTrg;
  s.pack = [](const tr::Dataset& d, const std::vector<uint64_t>& ids) {
    return mds::testing::pack_test_batch(d, ids, kMaxSrc, kMaxTrg);
  };
  s.checkpoint_path = ckpt;
  s.checkpoint_extras = [](Container& c) { c.meta["config"] = {{"note", "test"}}; };
  s.reporter = rep;
  return s;
}

std::vector<nlohmann::json> read_lines(std::FILE* f) {
  std::vector<nlohmann::json> out;
  std::stringstream ss(mds::testing::read_stream(f));
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

}  // namespace

TEST(Trainer, LearnsTheRegression) {
  const tr::Dataset train = mds::testing::random_dataset(200, 1), valid = mds::testing::random_dataset(50, 2);
  LinearTestModel model(kT);
  tr::TrainConfig c = small_config();
  c.steps = 300;
  c.lr = 0.01;
  c.grad_clip = 0;
  c.lr_schedule = tr::LrSchedule::constant;
  c.warmup_steps = 0;
  tr::Trainer t(model, c, train, &valid, setup_for(""));
  const double before = t.validate().mean.total;
  const tr::TrainResult r = t.run();
  const double after = t.validate().mean.total;
  EXPECT_EQ(r.step, 300);
  EXPECT_FALSE(r.interrupted);
  EXPECT_LT(after, 0.2 * before) << before << " -> " << after;
  EXPECT_GT(model.weights()[2], 0.5);  // y ≈ first source token / 100: the weight heads towards 1
}

TEST(Trainer, ValidationIsDeterministic) {
  const tr::Dataset train = mds::testing::random_dataset(40, 1), valid = mds::testing::random_dataset(30, 2);
  LinearTestModel model(kT);
  tr::TrainConfig c = small_config();
  c.valid_max_batches = 3;
  tr::Trainer t(model, c, train, &valid, setup_for(""));
  const tr::ValidationResult a = t.validate(), b = t.validate();
  EXPECT_EQ(a.mean.total, b.mean.total);
  EXPECT_EQ(a.examples, 12);  // 3 batches of 4
  EXPECT_GT(a.tokens, 12 * (kMaxTrg + 3));
}

// The key guarantee: 20 steps straight == 10 steps, stop, resume, 10 steps,
// bit for bit in every weight, EMA weight, Adam moment and the sampler state.
TEST(Trainer, ResumeIsBitIdentical) {
  TempDir dir;
  const tr::Dataset train = mds::testing::random_dataset(50, 3);
  const tr::TrainConfig c = small_config();

  LinearTestModel straight(kT);
  tr::Trainer ta(straight, c, train, nullptr, setup_for(dir.path("a.mds")));
  ASSERT_EQ(ta.run().step, 20);

  volatile std::sig_atomic_t stop = 0;
  LinearTestModel first(kT);
  tr::TrainerSetup sb = setup_for(dir.path("b.mds"));
  sb.stop_flag = &stop;
  sb.on_step = [&](int64_t step) {
    if (step == 10) stop = SIGTERM;
  };
  tr::Trainer tb(first, c, train, nullptr, sb);
  const tr::TrainResult rb = tb.run();
  ASSERT_TRUE(rb.interrupted);
  ASSERT_EQ(rb.step, 10);
  const Container at10 = tr::read_checkpoint(dir.path("b.mds"));
  // The resumed half must cross the sampler warm-up and an epoch boundary to be a real test.
  ASSERT_EQ(at10.meta["trainer"]["step"], 10);
  EXPECT_TRUE(tb.sampler().warmed_up());
  EXPECT_GE(at10.meta["trainer"]["data_position"]["epoch"].get<int>(), 1);

  LinearTestModel resumed(kT, /*init_seed=*/999);  // other init: load_state must overwrite everything
  tr::Trainer tc(resumed, c, train, nullptr, setup_for(dir.path("c.mds")));
  tc.resume(at10);
  EXPECT_EQ(tc.step(), 10);
  ASSERT_EQ(tc.run().step, 20);

  const Container a = tr::read_checkpoint(dir.path("a.mds")), cc = tr::read_checkpoint(dir.path("c.mds"));
  expect_same_sections(a, cc);
  EXPECT_EQ(a.meta["trainer"], cc.meta["trainer"]);
  EXPECT_EQ(a.meta["model_state"], cc.meta["model_state"]);
  EXPECT_EQ(straight.weights(), resumed.weights());
  // And training did move the weights between step 10 and 20.
  EXPECT_FALSE(a.section("param/w").data == at10.section("param/w").data);
  EXPECT_NE(a.find("sampler/history"), nullptr);
  EXPECT_EQ(a.meta["config"]["note"], "test");
}

TEST(Trainer, SigtermSavesAValidCheckpointAndStops) {
  TempDir dir;
  const tr::Dataset train = mds::testing::random_dataset(40, 4);
  struct sigaction sa {}, old {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGTERM, &sa, &old), 0);
  g_signal = 0;
  LinearTestModel model(kT);
  tr::TrainerSetup s = setup_for(dir.path("sig.mds"));
  s.stop_flag = &g_signal;
  s.on_step = [](int64_t step) {
    if (step == 5) std::raise(SIGTERM);
  };
  tr::TrainConfig c = small_config();
  c.steps = 1000;
  tr::Trainer t(model, c, train, nullptr, s);
  const tr::TrainResult r = t.run();
  sigaction(SIGTERM, &old, nullptr);
  EXPECT_TRUE(r.interrupted);
  EXPECT_EQ(r.signal, SIGTERM);
  EXPECT_EQ(r.step, 5);
  EXPECT_TRUE(r.checkpoint_written);
  const Container ck = tr::read_checkpoint(dir.path("sig.mds"));
  EXPECT_EQ(ck.kind, "checkpoint");
  EXPECT_EQ(ck.meta["trainer"]["step"], 5);
  LinearTestModel loaded(kT, 1234);
  loaded.load_state(ck);
  EXPECT_EQ(loaded.weights(), model.weights());
  EXPECT_FALSE(fs::exists(dir.path("sig.mds") + ".tmp"));
}

TEST(Trainer, NonFiniteLossStopsNamingTheStep) {
  TempDir dir;
  const tr::Dataset train = mds::testing::random_dataset(40, 5);
  LinearTestModel model(kT);
  model.nan_loss_calls = {13};  // grad_accum 2: call 13 is the first micro-batch of step 7
  tr::Trainer t(model, small_config(), train, nullptr, setup_for(dir.path("x.mds")));
  try {
    t.run();
    FAIL() << "no error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::runtime);
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("step 7: the loss of micro-batch 1 of 2 is nan", 0), 0u) << m;
    EXPECT_NE(m.find("--skip-nonfinite"), std::string::npos) << m;
  }
  EXPECT_EQ(t.step(), 6);
  EXPECT_FALSE(fs::exists(dir.path("x.mds")));  // nothing written with a bad state
}

TEST(Trainer, NonFiniteGradientStopsToo) {
  const tr::Dataset train = mds::testing::random_dataset(40, 5);
  LinearTestModel model(kT);
  model.inf_grad_calls = {6};  // second micro-batch of step 3
  tr::Trainer t(model, small_config(), train, nullptr, setup_for(""));
  try {
    t.run();
    FAIL() << "no error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("step 3: the gradient is not finite", 0), 0u) << e.what();
  }
}

TEST(Trainer, SkipNonFiniteCountsAndContinues) {
  TempDir dir;
  const tr::Dataset train = mds::testing::random_dataset(40, 6);
  std::FILE* log = std::tmpfile();
  tr::Reporter rep(log, nullptr, false);
  LinearTestModel model(kT);
  model.nan_loss_calls = {5, 8};  // steps 3 and (after the retry) 4
  tr::TrainConfig c = small_config();
  c.steps = 10;
  c.skip_nonfinite = true;
  tr::Trainer t(model, c, train, nullptr, setup_for(dir.path("s.mds"), &rep));
  const tr::TrainResult r = t.run();
  EXPECT_EQ(r.step, 10);
  EXPECT_EQ(r.nonfinite_skipped, 2);
  const Container ck = tr::read_checkpoint(dir.path("s.mds"));
  EXPECT_EQ(ck.meta["trainer"]["nonfinite_skipped"], 2);
  int skips = 0;
  for (const auto& j : read_lines(log))
    if (j["type"] == "skip") {
      ++skips;
      EXPECT_NE(j["reason"].get<std::string>().find("nan"), std::string::npos);
    }
  std::fclose(log);
  EXPECT_EQ(skips, 2);
}

TEST(Trainer, TooManyNonFiniteInARowStops) {
  const tr::Dataset train = mds::testing::random_dataset(40, 6);
  LinearTestModel model(kT);
  model.nan_loss_calls = {5, 6, 7};  // step 3 fails twice in a row (call 6 is micro-batch 1 of the retry)
  tr::TrainConfig c = small_config();
  c.skip_nonfinite = true;
  c.max_nonfinite_in_a_row = 2;
  tr::Trainer t(model, c, train, nullptr, setup_for(""));
  try {
    t.run();
    FAIL();
  } catch (const mds::Error& e) {
    EXPECT_NE(std::string(e.what()).find("step 3: 2 updates in a row were not finite"), std::string::npos) << e.what();
  }
}

TEST(Trainer, CheckpointsAreNeverWrittenWithNaN) {
  TempDir dir;
  Container c;
  c.kind = "checkpoint";
  std::vector<float> v = {1.f, NAN, 2.f};
  c.add(mds::Section::from("param/x", v));
  try {
    tr::write_checkpoint(dir.path("nan.mds"), c);
    FAIL();
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::runtime);
    EXPECT_NE(std::string(e.what()).find("section \"param/x\" holds NaN at element 1"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.path("nan.mds")));
}

TEST(Trainer, AccumulationScalesAndClippingBounds) {
  const tr::Dataset train = mds::testing::random_dataset(40, 7);
  LinearTestModel model(kT);
  tr::TrainConfig c = small_config();
  c.steps = 6;
  c.grad_accum = 3;
  c.grad_clip = 1e-3;
  tr::Trainer t(model, c, train, nullptr, setup_for(""));
  const int64_t zero_before = model.zero_grad_calls;
  t.run();
  EXPECT_EQ(model.calls, 18);
  EXPECT_EQ(model.zero_grad_calls - zero_before, 6);
  for (double s : model.grad_scales_seen) EXPECT_DOUBLE_EQ(s, 1.0 / 3);
  EXPECT_LE(model.last_applied_grad_norm, 1e-3 * (1 + 1e-4));
  EXPECT_GT(model.last_applied_grad_norm, 0.5e-3);
}

TEST(Trainer, MetricsLinesCarryTheDocumentedFields) {
  TempDir dir;
  const tr::Dataset train = mds::testing::random_dataset(60, 8), valid = mds::testing::random_dataset(20, 9);
  std::FILE* log = std::tmpfile();
  tr::Reporter rep(log, nullptr, false);
  LinearTestModel model(kT);
  tr::TrainConfig c = small_config();
  c.log_every = 5;
  c.valid_every = 10;
  c.checkpoint_every = 10;
  tr::Trainer t(model, c, train, &valid, setup_for(dir.path("m.mds"), &rep));
  t.run();
  std::map<std::string, int> count;
  for (const auto& j : read_lines(log)) {
    const std::string type = j["type"];
    ++count[type];
    if (type == "train") {
      for (const char* k : {"step", "epoch", "loss", "mse", "rounding_nll", "prior", "absorb_reg", "moe_balance",
                            "moe_z", "lr", "grad_norm", "tokens_per_s", "examples_per_s", "tokens", "examples",
                            "nonfinite_skipped", "expert_load"})
        EXPECT_TRUE(j.contains(k)) << k;
      EXPECT_EQ(j["step"].get<int>() % 5, 0);
      EXPECT_EQ(j["expert_load"].size(), 2u);
      EXPECT_NEAR(j["expert_load"][0][1].get<double>(), 0.75, 1e-12);
      EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
    }
    if (type == "valid") EXPECT_GT(j["examples"].get<int>(), 0);
  }
  std::fclose(log);
  EXPECT_EQ(count["start"], 1);
  EXPECT_EQ(count["train"], 4);
  EXPECT_EQ(count["valid"], 2);
  EXPECT_EQ(count["checkpoint"], 2);  // step 10 and the final one
  EXPECT_EQ(count["end"], 1);
}

TEST(Trainer, ResumeOnChangedDataWarnsAndRestartsTheEpoch) {
  TempDir dir;
  const tr::Dataset train = mds::testing::random_dataset(40, 10), other = mds::testing::random_dataset(41, 11);
  LinearTestModel a(kT);
  tr::TrainConfig c = small_config();
  c.steps = 5;
  tr::Trainer ta(a, c, train, nullptr, setup_for(dir.path("d.mds")));
  ta.run();
  std::FILE* msgs = std::tmpfile();
  tr::Reporter rep(nullptr, msgs, false);
  LinearTestModel b(kT);
  c.steps = 8;
  tr::Trainer tb(b, c, other, nullptr, setup_for(dir.path("e.mds"), &rep));
  tb.resume(tr::read_checkpoint(dir.path("d.mds")));
  EXPECT_EQ(tb.data_position().batch, 0);
  EXPECT_EQ(tb.run().step, 8);
  std::rewind(msgs);
  char buf[2048] = {0};
  std::fread(buf, 1, sizeof buf - 1, msgs);
  std::fclose(msgs);
  EXPECT_NE(std::string(buf).find("warning: "), std::string::npos);
  EXPECT_NE(std::string(buf).find("differs from the checkpoint's"), std::string::npos) << buf;
}

TEST(Checkpoint, EmbeddedContainersRoundTrip) {
  Container tok;
  tok.kind = "tokenizer";
  tok.meta = {{"vocab_size", 5}};
  tok.add(mds::Section::from_string("merges", "ab"));
  tok.add(mds::Section::from("ids", std::vector<int32_t>{1, 2, 3}));
  Container ck;
  ck.kind = "checkpoint";
  tr::embed_container(ck, tok, "tokenizer/", "tokenizer");
  EXPECT_NE(ck.find("tokenizer/merges"), nullptr);
  const Container back = tr::extract_embedded(ck, "tokenizer/", "tokenizer");
  EXPECT_EQ(back.kind, "tokenizer");
  EXPECT_EQ(back.meta, tok.meta);
  ASSERT_EQ(back.sections.size(), 2u);
  EXPECT_EQ(back.section("merges").to_string(), "ab");
  EXPECT_EQ(back.section("ids").to_vector<int32_t>(), (std::vector<int32_t>{1, 2, 3}));
  Container none;
  none.kind = "checkpoint";
  EXPECT_THROW(tr::extract_embedded(none, "tokenizer/", "tokenizer"), mds::Error);
}
