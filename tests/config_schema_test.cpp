// The config schema facility (lib/io/config_schema.h) on a small struct: the
// one message form, did-you-mean, integer forms, ranges, validation of a
// struct built in code, serialisation; and the model config of the shipped
// checkpoint, written before the model config moved onto the schema, still
// loading unchanged.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/config_schema.h"
#include "io/container.h"
#include "model/config.h"

namespace mds {
namespace {

using nlohmann::json;

enum class Mode { fast, exact };
std::string mode_name(const Mode& m) { return m == Mode::fast ? "fast" : "exact"; }

struct Demo {
  int count = 3;
  uint64_t seed = 7;
  double rate = 0.5;
  bool on = true;
  Mode mode = Mode::exact;
  std::string shape = "round";
  std::vector<int> widths{2};
};

const ConfigSchema<Demo>& demo_schema() {
  static const ConfigSchema<Demo> s = [] {
    ConfigSchema<Demo> t;
    t.section("One")
        .integer("count", &Demo::count, 1, "how many", "", "0 would do nothing")
        .integer("seed", &Demo::seed, 0, "seed")
        .number("rate", &Demo::rate, 0, false, 1, true, "a rate", "[paper]");
    t.section("Two")
        .boolean("on", &Demo::on, "switch")
        .choice<Mode>("mode", &Demo::mode, {Mode::fast, Mode::exact}, mode_name, "mode")
        .choice<std::string>("shape", &Demo::shape, {"round", "square"}, same_name, "shape")
        .integers("widths", &Demo::widths, 1, "one or one per item")
        .check([](const Demo& d, const std::string& where) {
          if (d.widths.size() > static_cast<size_t>(d.count))
            throw_usage("{}.widths: expected at most count = {} entries, found {}", where, d.count, d.widths.size());
        });
    return t;
  }();
  return s;
}

std::string error_of(const json& j) {
  try {
    demo_schema().parse(j, "x.json: demo");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    return e.what();
  }
  return "(no error)";
}

TEST(ConfigSchema, DefaultsComeFromTheStruct) {
  const Demo d = demo_schema().parse(json::object(), "demo");
  EXPECT_EQ(d.count, 3);
  EXPECT_EQ(demo_schema().to_json(d),
            (json{{"count", 3}, {"seed", 7}, {"rate", 0.5}, {"on", true}, {"mode", "exact"}, {"shape", "round"},
                  {"widths", {2}}}));
  const auto& f = demo_schema().fields();
  ASSERT_EQ(f.size(), 7u);
  EXPECT_EQ(f[0].default_value, 3);
  EXPECT_EQ(f[0].accepts, "an integer >= 1 (0 would do nothing)");
  EXPECT_EQ(f[2].accepts, "a number in [0, 1)");
  EXPECT_EQ(f[2].source, "[paper]");
  EXPECT_EQ(f[2].section, "One");
  EXPECT_EQ(f[4].type, "string (fast, exact)");
  EXPECT_EQ(f[4].default_value, "exact");
  EXPECT_EQ(f[6].default_value, 2);  // one value for every item is shown as that value
}

TEST(ConfigSchema, ReadsEveryKindAndRoundTrips) {
  const json j = {{"count", 1e3}, {"seed", 18446744073709551615ULL}, {"rate", 0},   {"on", false},
                  {"mode", "fast"}, {"shape", "square"},               {"widths", {1, 2, 3}}};
  const Demo d = demo_schema().parse(j, "demo");
  EXPECT_EQ(d.count, 1000);
  EXPECT_EQ(d.seed, 18446744073709551615ULL);
  EXPECT_EQ(d.mode, Mode::fast);
  EXPECT_EQ(d.widths, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(demo_schema().to_json(d), j);
  EXPECT_EQ(demo_schema().parse({{"widths", 4}, {"count", 5}}, "demo").widths, std::vector<int>{4});
}

TEST(ConfigSchema, OneMessageForm) {
  EXPECT_EQ(error_of({{"count", 0}}), "x.json: demo.count: expected an integer >= 1 (0 would do nothing), found 0");
  EXPECT_EQ(error_of({{"count", 2.5}}), "x.json: demo.count: expected an integer >= 1 (0 would do nothing), found 2.5");
  EXPECT_EQ(error_of({{"count", 3e9}}),
            "x.json: demo.count: expected an integer in [1, 2147483647] (0 would do nothing), found 3000000000.0");
  EXPECT_EQ(error_of({{"seed", -1}}), "x.json: demo.seed: expected an integer >= 0, found -1");
  EXPECT_EQ(error_of({{"rate", 1}}), "x.json: demo.rate: expected a number in [0, 1), found 1");
  EXPECT_EQ(error_of({{"rate", "1"}}), "x.json: demo.rate: expected a number in [0, 1), found \"1\"");
  EXPECT_EQ(error_of({{"on", 1}}), "x.json: demo.on: expected true or false, found 1");
  EXPECT_EQ(error_of({{"mode", "slow"}}), "x.json: demo.mode: expected one of \"fast|exact\", found \"slow\"");
  EXPECT_EQ(error_of({{"shape", 4}}), "x.json: demo.shape: expected one of \"round|square\", found 4");
  EXPECT_EQ(error_of({{"widths", json::array()}}),
            "x.json: demo.widths: expected an integer >= 1 or a non-empty array of them, found []");
  EXPECT_EQ(error_of({{"widths", {1, 0}}}),
            "x.json: demo.widths: expected an integer >= 1 or a non-empty array of them, found [1,0]");
  EXPECT_EQ(error_of({{"widths", {1, 1, 1, 1}}}), "x.json: demo.widths: expected at most count = 3 entries, found 4");
  EXPECT_EQ(error_of(json::array()), "x.json: demo: expected a JSON object, found []");
}

TEST(ConfigSchema, UnknownKeysListTheValidOnesAndSuggest) {
  EXPECT_EQ(error_of({{"cuont", 1}}),
            "x.json: demo: unknown key \"cuont\" (did you mean \"count\"?); valid keys: count, seed, rate, on, mode, "
            "shape, widths");
  EXPECT_EQ(error_of({{"zzzzzz", 1}}).find("did you mean"), std::string::npos);
}

TEST(ConfigSchema, ValidatesAStructBuiltInCode) {
  Demo d;
  EXPECT_NO_THROW(demo_schema().validate(d, "demo"));
  d.rate = 2;
  try {
    demo_schema().validate(d, "demo");
    FAIL() << "rate 2 passed";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "demo.rate: expected a number in [0, 1), found 2.0");
  }
  d.rate = 0.5;
  d.widths = {1, 1, 1, 1};
  EXPECT_THROW(demo_schema().validate(d, "demo"), Error);
}

TEST(ConfigSchema, MarkdownTableHasARowPerField) {
  const std::string t = schema::markdown_tables(demo_schema().fields(), "Two");
  EXPECT_NE(t.find("| `mode` | string (fast, exact) | `\"exact\"` | one of \"fast\\|exact\" | mode |"), std::string::npos)
      << t;
  EXPECT_EQ(t.find("`count`"), std::string::npos) << t;
  EXPECT_NE(schema::markdown_tables(demo_schema().fields(), "One").find("| source |"), std::string::npos);
}

// The model config a checkpoint carries is read by the schema: the shipped
// model, written by the earlier parser, loads, and writing it back gives the
// same object.
TEST(ConfigSchema, ShippedCheckpointConfigStillLoads) {
  const Container ck = read_container(std::string(MDS_SOURCE_DIR) + "/examples/models/qqp-paraphrase.mds");
  ASSERT_TRUE(ck.meta.contains("config"));
  const json& model = ck.meta["config"]["model"];
  const ModelConfig c = model_config_from_json(model);
  EXPECT_EQ(model_config_to_json(c), model);
  EXPECT_GT(c.vocab_size, 0);
  EXPECT_NO_THROW(validate_model_config(c));
}

}  // namespace
}  // namespace mds
