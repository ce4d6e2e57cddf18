// Sampling checkpoints (lib/train/export.h) and bf16 weights (lib/core/bf16.h):
// float -> bf16 rounds to nearest even and keeps NaN and infinities; the
// export keeps the EMA weights as "param/" (rounded, or exact in f32), the
// tokenizer sections and the config, and drops the training state; a model
// loads a bf16 export with every weight equal to the rounded EMA weight.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "runtime/factory.h"
#include "core/bf16.h"
#include "core/error.h"
#include "model/model.h"
#include "train/export.h"
#include "checkpoint_fixtures.h"

namespace mds {
namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xc000);
  // Exactly halfway between 0x3f80 and 0x3f81: ties go to the even one.
  EXPECT_EQ(float_to_bf16(from_bits(0x3f808000u)), 0x3f80);
  EXPECT_EQ(float_to_bf16(from_bits(0x3f818000u)), 0x3f82);
  // Just above / below halfway.
  EXPECT_EQ(float_to_bf16(from_bits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(float_to_bf16(from_bits(0x3f807fffu)), 0x3f80);
  // Overflow rounds to infinity; infinities and NaN stay what they are.
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(from_bits(0x7f800001u)))));  // a NaN whose payload rounds off
}

TEST(Bf16, RandomValuesAgreeWithAReferenceRounding) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int i = 0; i < 100000; ++i) {
    const float x = normal(gen) * std::ldexp(1.0f, static_cast<int>(gen() % 40) - 20);
    // Reference: the nearest of the two bf16 neighbours by exact double distance, ties to even.
    const uint32_t u = bits(x);
    const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    const double dlo = std::fabs(double(x) - double(from_bits(lo))), dhi = std::fabs(double(from_bits(hi)) - double(x));
    uint16_t want = static_cast<uint16_t>((dlo < dhi || (dlo == dhi && ((lo >> 16) & 1u) == 0)) ? lo >> 16 : hi >> 16);
    ASSERT_EQ(float_to_bf16(x), want) << "x = " << x;
    ASSERT_EQ(bits(bf16_to_float(want)), uint32_t(want) << 16);
  }
}

ModelConfig small_config() { return testing::small_model_config(50, 1); }

// A training checkpoint as mds-train writes it: weights, EMA, moments, trainer meta, a tokenizer section.
Container training_checkpoint(DiffusionModel& m) {
  Container c = testing::training_checkpoint_of(m, 42);
  c.meta["config"] = {{"model", nlohmann::json::object()}, {"train", nlohmann::json::object()}};
  c.meta["provenance"] = {{"program", "test"}};
  c.add(Section::from_string("tokenizer/merges", "abc"));
  c.add(Section::from<float>("sampler/history", std::vector<float>{1, 2}));
  return c;
}

std::vector<float> download(Backend& be, const Tensor& t) {
  std::vector<float> h(size_t(t.numel()));
  be.download(t, h.data());
  return h;
}

TEST(Export, KeepsTheEmaWeightsAndDropsTrainingState) {
  auto be = make_backend("cpu", 1);
  auto a = make_model(small_config(), be, 1);
  a->ema_update(0.0);  // EMA := the weights, then move the weights away so the two differ
  for (auto& p : a->params().all()) be->scale(p.value, 3.0);
  const Container ck = training_checkpoint(*a);

  train::ExportOptions opt;
  opt.about = {{"note", "x"}};
  const Container ex = train::export_sampling_checkpoint(ck, opt);
  EXPECT_FALSE(ex.meta.contains("trainer"));
  EXPECT_EQ(ex.meta["export"]["weights"], "ema");
  EXPECT_EQ(ex.meta["export"]["dtype"], "bf16");
  EXPECT_EQ(ex.meta["export"]["from"]["step"], 42);
  EXPECT_EQ(ex.meta["export"]["about"]["note"], "x");
  EXPECT_EQ(ex.meta["export"]["parameters"], a->parameter_count());
  EXPECT_TRUE(ex.meta.contains("provenance"));
  ASSERT_NE(ex.find("tokenizer/merges"), nullptr);
  for (const Section& s : ex.sections) {
    EXPECT_TRUE(s.name.rfind("param/", 0) == 0 || s.name.rfind("tokenizer/", 0) == 0) << s.name;
    if (s.name.rfind("param/", 0) == 0) {
      EXPECT_EQ(s.dtype, DType::bf16) << s.name;
      const std::vector<float> ema = ck.section("ema/" + s.name.substr(6)).to_vector<float>();
      ASSERT_EQ(s.data.size(), ema.size() * 2);
      for (size_t i = 0; i < ema.size(); ++i) {
        uint16_t h;
        std::memcpy(&h, s.data.data() + 2 * i, 2);
        ASSERT_EQ(h, float_to_bf16(ema[i])) << s.name << "[" << i << "]";
      }
    }
  }

  // A fresh model loads it: both its weights and its EMA are the rounded EMA weights.
  auto b = make_model(small_config(), be, 2);
  Container loaded = ex;
  loaded.source = "export.mds";
  b->load_state(loaded);
  const auto& pa = a->params().all();
  const auto& pb = b->params().all();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t k = 0; k < pa.size(); ++k) {
    const std::vector<float> ema = download(*be, pa[k].ema), w = download(*be, pb[k].value),
                             we = download(*be, pb[k].ema);
    for (size_t i = 0; i < ema.size(); ++i) {
      ASSERT_EQ(bits(w[i]), bits(bf16_to_float(float_to_bf16(ema[i])))) << pa[k].name;
      ASSERT_EQ(bits(we[i]), bits(w[i])) << pa[k].name;
    }
  }

  // f32: the EMA weights exactly.
  opt.weight_dtype = DType::f32;
  const Container ex32 = train::export_sampling_checkpoint(ck, opt);
  for (const auto& p : pa)
    EXPECT_EQ(ex32.section("param/" + p.name).data, ck.section("ema/" + p.name).data) << p.name;
}

TEST(Export, RefusesWhatIsNotATrainingCheckpoint) {
  auto be = make_backend("cpu", 1);
  auto a = make_model(small_config(), be, 1);
  const Container ck = training_checkpoint(*a);
  const train::ExportOptions opt;
  const Container ex = train::export_sampling_checkpoint(ck, opt);
  EXPECT_THROW(train::export_sampling_checkpoint(ex, opt), Error);  // already exported

  Container no_trainer = ck;
  no_trainer.meta.erase("trainer");
  EXPECT_THROW(train::export_sampling_checkpoint(no_trainer, opt), Error);

  Container no_ema = ck;
  no_ema.sections.erase(std::remove_if(no_ema.sections.begin(), no_ema.sections.end(),
                                      [](const Section& s) { return s.name.rfind("ema/", 0) == 0; }),
                       no_ema.sections.end());
  try {
    train::export_sampling_checkpoint(no_ema, opt);
    FAIL() << "exported a checkpoint without EMA weights";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no EMA twin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("train.mds"), std::string::npos) << e.what();
  }

  // An export that also carries training state is refused at load.
  Container mixed = ex;
  mixed.add(ck.section("ema/" + a->params().all()[0].name));
  auto b = make_model(small_config(), be, 2);
  EXPECT_THROW(b->load_state(mixed), Error);

  // A bf16 weight section of the wrong byte size is refused at load.
  Container short_section = ex;
  for (Section& s : short_section.sections)
    if (s.name.rfind("param/", 0) == 0) {
      s.data.resize(s.data.size() - 2);
      break;
    }
  EXPECT_THROW(b->load_state(short_section), Error);
}

}  // namespace
}  // namespace mds
