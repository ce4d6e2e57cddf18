// Tests of the "train" config schema: defaults, strict parsing (unknown keys
// list the valid ones, bad values name the field), --set overrides, and that
// docs/config.md (generated from the schema) has every field with its default.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "train/train_config.h"

using mds::Error;
using mds::ExitCode;
using nlohmann::json;
namespace tr = mds::train;

namespace {
std::string error_of(const json& j) {
  try {
    tr::train_config_from_json(j, "run.json: train");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << j.dump();
  return "";
}
}  // namespace

TEST(TrainConfig, EmptyObjectGivesDefaults) {
  const tr::TrainConfig c = tr::train_config_from_json(json::object());
  EXPECT_EQ(c.steps, 50000);
  EXPECT_EQ(c.batch_size, 64);
  EXPECT_DOUBLE_EQ(c.lr, 1e-4);
  EXPECT_EQ(c.lr_schedule, tr::LrSchedule::linear);
  EXPECT_EQ(c.warmup_steps, 0);
  EXPECT_DOUBLE_EQ(c.ema_decay, 0.9999);
  EXPECT_EQ(c.timestep_sampler, tr::TimestepSampling::loss_aware);
  EXPECT_EQ(c.loss_aware_history, 10);
  EXPECT_DOUBLE_EQ(c.loss_aware_uniform, 0.001);
  EXPECT_EQ(c.seed, 101u);
  EXPECT_FALSE(c.skip_nonfinite);
}

TEST(TrainConfig, RoundTripsEveryField) {
  json j = {{"steps", 123},          {"batch_size", 7},       {"max_batch_tokens", 4096}, {"grad_accum", 3},
            {"shuffle", false},      {"bucket_pool", 5},      {"lr", 3e-4},               {"lr_schedule", "cosine"},
            {"warmup_steps", 10},    {"decay_steps", 200},    {"final_lr", 1e-5},         {"beta1", 0.8},
            {"beta2", 0.95},         {"eps", 1e-6},           {"weight_decay", 0.01},     {"grad_clip", 1.0},
            {"ema_decay", 0.999},    {"timestep_sampler", "uniform"}, {"loss_aware_history", 4},
            {"loss_aware_uniform", 0.01}, {"seed", 18446744073709551615ull}, {"skip_nonfinite", true},
            {"max_nonfinite_in_a_row", 3}, {"log_every", 5}, {"valid_every", 50}, {"valid_max_batches", 2},
            {"checkpoint_every", 25}};
  const tr::TrainConfig c = tr::train_config_from_json(j);
  EXPECT_EQ(tr::train_config_to_json(c), j);
  // Every documented field is in the table and in the output.
  EXPECT_EQ(tr::train_fields().size(), j.size());
  for (const auto& f : tr::train_fields()) EXPECT_TRUE(j.contains(f.name)) << f.name;
  // Defaults serialise to what the table says.
  const json d = tr::train_config_to_json(tr::TrainConfig{});
  for (const auto& f : tr::train_fields()) EXPECT_EQ(d[f.name], f.default_value) << f.name;
}

TEST(TrainConfig, IntegersMayBeWrittenInExponentForm) {
  EXPECT_EQ(tr::train_config_from_json({{"steps", 1e3}}).steps, 1000);
  EXPECT_NE(error_of({{"steps", 2.5}}).find("run.json: train.steps: expected an integer >= 1, found 2.5"),
            std::string::npos);
}

TEST(TrainConfig, UnknownKeyListsValidKeysAndSuggests) {
  const std::string m = error_of({{"lr_shedule", "linear"}});
  EXPECT_NE(m.find("run.json: train: unknown key \"lr_shedule\""), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean \"lr_schedule\"?"), std::string::npos) << m;
  for (const auto& f : tr::train_fields()) EXPECT_NE(m.find(f.name), std::string::npos) << f.name << " in " << m;
  const std::string far = error_of({{"zzzzzzzzzz", 1}});
  EXPECT_EQ(far.find("did you mean"), std::string::npos) << far;
}

TEST(TrainConfig, BadValuesNameTheFieldExpectedAndFound) {
  struct Case {
    json j;
    std::string want;
  } cases[] = {
      {{{"lr", -1}}, "run.json: train.lr: expected a number > 0, found -1"},
      {{{"lr", "fast"}}, "train.lr: expected a number > 0, found \"fast\""},
      {{{"steps", 0}}, "train.steps: expected an integer >= 1, found 0"},
      {{{"batch_size", "64"}}, "train.batch_size: expected an integer >= 1, found \"64\""},
      {{{"lr_schedule", "exp"}}, "train.lr_schedule: expected one of \"constant|linear|cosine\", found \"exp\""},
      {{{"timestep_sampler", 1}}, "train.timestep_sampler: expected one of \"uniform|loss_aware\", found 1"},
      {{{"shuffle", 1}}, "train.shuffle: expected true or false, found 1"},
      {{{"beta2", 1.0}}, "train.beta2: expected a number in [0, 1), found 1.0"},
      {{{"ema_decay", 1.5}}, "train.ema_decay: expected a number in [0, 1], found 1.5"},
      {{{"seed", -3}}, "train.seed: expected an integer >= 0, found -3"},
      {{{"grad_clip", nullptr}}, "train.grad_clip: expected a number >= 0, found null"},
      {{{"warmup_steps", 20}, {"steps", 10}}, "train.warmup_steps: expected at most the decay horizon (steps = 10), found 20"},
      {{{"final_lr", 1.0}}, "train.final_lr: expected at most lr (0.0001), found 1"},
  };
  for (const Case& c : cases) {
    const std::string m = error_of(c.j);
    EXPECT_NE(m.find(c.want), std::string::npos) << "got: " << m << "\nwant: " << c.want;
  }
  const std::string not_obj = error_of(json::array());
  EXPECT_NE(not_obj.find("expected a JSON object, found []"), std::string::npos) << not_obj;
}

TEST(TrainConfig, ConstantScheduleAllowsLongWarmup) {
  EXPECT_NO_THROW(tr::train_config_from_json({{"lr_schedule", "constant"}, {"warmup_steps", 20}, {"steps", 10}}));
}

TEST(TrainConfig, OverridesParseJsonOrBareStrings) {
  json doc = {{"model", {{"layers", 2}}}, {"train", {{"lr", 1e-4}}}};
  tr::apply_override(doc, "train.lr=3e-4");
  tr::apply_override(doc, "train.lr_schedule=cosine");
  tr::apply_override(doc, "train.shuffle=false");
  tr::apply_override(doc, "model.attention.window=256");
  tr::apply_override(doc, "train.note=\"a=b\"");
  EXPECT_EQ(doc["train"]["lr"], 3e-4);
  EXPECT_EQ(doc["train"]["lr_schedule"], "cosine");
  EXPECT_EQ(doc["train"]["shuffle"], false);
  EXPECT_EQ(doc["model"]["attention"]["window"], 256);
  EXPECT_EQ(doc["model"]["layers"], 2);
  EXPECT_EQ(doc["train"]["note"], "a=b");
  auto usage_error = [&](const std::string& a) {
    try {
      tr::apply_override(doc, a);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::usage);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(usage_error("train.lr").find("expected PATH=VALUE"), std::string::npos);
  EXPECT_NE(usage_error("=3").find("expected PATH=VALUE"), std::string::npos);
  EXPECT_NE(usage_error("train..lr=3").find("empty component"), std::string::npos);
  EXPECT_NE(usage_error("train.lr.x=3").find("inside a number value"), std::string::npos);
  // Found by fuzz_config: a bare word that is not UTF-8 became a string that
  // no later message or checkpoint could dump (nlohmann type_error, exit 1).
  EXPECT_NE(usage_error("train.lr=0\xff\xff.01").find("invalid UTF-8 at byte 11"), std::string::npos);
  EXPECT_NE(usage_error("train.\xc3=1").find("invalid UTF-8 at byte 7"), std::string::npos);
  // An override that makes the train object invalid fails when parsed, naming the field.
  json bad = {{"train", json::object()}};
  tr::apply_override(bad, "train.steps=ten");
  EXPECT_NE(error_of(bad["train"]).find("train.steps: expected an integer >= 1, found \"ten\""), std::string::npos);
}

TEST(TrainConfig, DocsListEveryFieldWithItsDefault) {
  // docs/config.md is generated from the schema (cli.config_reference checks
  // the whole page); here, each field's row as the schema describes it.
  std::ifstream in(std::string(MDS_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in) << "docs/config.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  auto cell = [](std::string s) {  // "|" is escaped inside a table cell
    for (size_t i = s.find('|'); i != std::string::npos; i = s.find('|', i + 2)) s.insert(i, "\\");
    return s;
  };
  for (const auto& f : tr::train_fields()) {
    const std::string def = f.default_value.is_string() ? "\"" + f.default_value.get<std::string>() + "\""
                                                        : f.default_value.dump();
    const std::string row =
        "| `" + f.name + "` | " + f.type + " | `" + def + "` | " + cell(f.accepts) + " | " + cell(f.doc) + " |";
    EXPECT_NE(doc.find(row), std::string::npos) << "docs/config.md lacks the row: " << row;
  }
}
