// ModelConfig schema: defaults, JSON round trip, unknown keys (listing the
// valid ones), type and range errors naming the field; the example configs.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "model/config.h"

namespace mds {
namespace {

using json = nlohmann::json;

std::string error_of(const json& j) {
  try {
    model_config_from_json(j);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  return "";
}

TEST(ModelConfig, DefaultsFollowAlgorithmMd) {
  const ModelConfig c = model_config_from_json(json::object());
  EXPECT_EQ(c.embed_dim, 128);
  EXPECT_EQ(c.hidden_dim, 768);
  EXPECT_EQ(c.layers, 12);
  EXPECT_EQ(c.heads, 12);
  EXPECT_EQ(c.ffn_dim, 3072);
  EXPECT_EQ(c.moe_experts, 8);
  EXPECT_EQ(c.moe_top_k, 2);
  EXPECT_EQ(c.attention_window, 256);
  EXPECT_EQ(c.diffusion_steps, 2000);
  EXPECT_DOUBLE_EQ(c.absorb_rate, 0.5);
  EXPECT_DOUBLE_EQ(c.absorb_reg, 0.01);
  EXPECT_EQ(c.loss_region, "target");
  EXPECT_EQ(c.positions(), c.max_src_len + c.max_trg_len + 3);
}

TEST(ModelConfig, RoundTripsThroughJson) {
  json j = {{"vocab_size", 500}, {"hidden_dim", 64}, {"heads", 4}, {"attention_dilation", {1, 1, 2, 2}},
            {"moe_capacity_factor", 1.25}, {"loss_region", "sequence"}, {"global_target", true}};
  const ModelConfig c = model_config_from_json(j);
  EXPECT_EQ(c.attention_dilation, (std::vector<int>{1, 1, 2, 2}));
  const json back = model_config_to_json(c);
  EXPECT_EQ(back.size(), model_config_keys().size());
  const ModelConfig c2 = model_config_from_json(back);
  EXPECT_EQ(model_config_to_json(c2), back);
  // A single dilation applies to every head.
  EXPECT_EQ(model_config_from_json({{"attention_dilation", 2}}).head_dilations(), std::vector<int>(12, 2));
}

TEST(ModelConfig, UnknownKeyListsValidKeys) {
  const std::string msg = error_of({{"hiden_dim", 64}});
  EXPECT_NE(msg.find("model: unknown key \"hiden_dim\" (did you mean \"hidden_dim\"?); valid keys: "), std::string::npos)
      << msg;
  for (const auto& k : model_config_keys()) EXPECT_NE(msg.find(k), std::string::npos) << k;
}

TEST(ModelConfig, InvalidValuesNameTheField) {
  EXPECT_NE(error_of({{"heads", 5}}).find("model.heads: expected"), std::string::npos);  // 768 % 5 != 0
  EXPECT_NE(error_of({{"dropout", 1.5}}).find("model.dropout: expected"), std::string::npos);
  EXPECT_NE(error_of({{"layers", "twelve"}}).find("model.layers: expected"), std::string::npos);
  EXPECT_NE(error_of({{"layers", 2.5}}).find("model.layers: expected"), std::string::npos);
  EXPECT_NE(error_of({{"moe_top_k", 9}}).find("model.moe_top_k: expected"), std::string::npos);
  EXPECT_NE(error_of({{"loss_region", "all"}}).find("model.loss_region: expected"), std::string::npos);
  EXPECT_NE(error_of({{"noise_schedule", "cosine"}}).find("model.noise_schedule: expected"), std::string::npos);
  EXPECT_NE(error_of({{"attention_dilation", {1, 2}}}).find("model.attention_dilation: expected"), std::string::npos);
  EXPECT_NE(error_of({{"absorbing", 1}}).find("model.absorbing: expected"), std::string::npos);
  EXPECT_NE(error_of({{"max_positions", 10}}).find("model.max_positions: expected"), std::string::npos);
  EXPECT_NE(error_of({{"vocab_size", 3}}).find("model.vocab_size: expected"), std::string::npos);
  EXPECT_NE(error_of(json::array()).find("object"), std::string::npos);
}

// A length limit that leaves no room for the sequence is refused, not trained
// with (max_src_len 0 cut every source to nothing).
TEST(ModelConfig, LengthLimitsLeaveRoom) {
  const std::string zero = error_of({{"max_src_len", 0}});
  EXPECT_NE(zero.find("model.max_src_len: expected an integer >= 1"), std::string::npos) << zero;
  EXPECT_NE(zero.find("found 0"), std::string::npos) << zero;
  EXPECT_NE(error_of({{"max_src_len", -4}}).find("model.max_src_len: expected an integer >= 1"), std::string::npos);
  EXPECT_NE(error_of({{"max_trg_len", 0}}).find("model.max_trg_len: expected an integer >= 1"), std::string::npos);
  // The packed length src + trg + 3 must fit an int (it used to overflow).
  const std::string huge = error_of({{"max_src_len", 2147483647}, {"max_trg_len", 1}});
  EXPECT_NE(huge.find("model.max_src_len: expected max_src_len + max_trg_len + 3 at most 2147483647"),
            std::string::npos)
      << huge;
  EXPECT_NO_THROW(model_config_from_json({{"max_src_len", 1}, {"max_trg_len", 1}}));
}

TEST(ModelConfig, ExampleConfigsParse) {
  for (const char* name : {"tiny.json", "base.json"}) {
    std::ifstream f(std::string(MDS_SOURCE_DIR) + "/examples/configs/" + name);
    ASSERT_TRUE(f) << name;
    const json j = json::parse(f);
    ASSERT_TRUE(j.contains("model")) << name;
    EXPECT_NO_THROW(model_config_from_json(j["model"])) << name;
  }
}

}  // namespace
}  // namespace mds

namespace mds {
namespace {
TEST(ModelConfig, VocabFromTokenizer) {
  EXPECT_EQ(model_config_for_vocab(nlohmann::json::object(), 321).vocab_size, 321);
  EXPECT_EQ(model_config_for_vocab({{"vocab_size", 321}}, 321).vocab_size, 321);
  EXPECT_THROW(model_config_for_vocab({{"vocab_size", 320}}, 321), Error);
}
}  // namespace
}  // namespace mds
