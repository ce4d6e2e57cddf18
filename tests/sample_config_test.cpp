// The sampler's settings on the config schema (lib/sample/sample_config.h):
// the defaults the code has always used, each range boundary (the value just
// inside accepted, just outside refused with the message naming the field),
// the checks across fields, unknown keys with a did-you-mean, and the Sampler
// and JSONL stream refusing options built in code through the same schema.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "sample/sample_config.h"

namespace mds {
namespace {

using nlohmann::json;

// The usage error of parsing `j` with `schema`, or "" when it parses.
template <typename T>
std::string parse_error(const ConfigSchema<T>& schema, const json& j) {
  try {
    (void)schema.parse(j, "run.json: sample");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage) << e.what();
    return e.what();
  }
  return "";
}
std::string sampler_error(const json& j) { return parse_error(sampler_schema(), j); }
std::string stream_error(const json& j) { return parse_error(stream_schema(), j); }

TEST(SampleConfig, DefaultsAreTheCodesDefaults) {
  const json want = {{"solver", "dpm++"},  {"steps", 0},         {"rounding", "auto"}, {"absorb_rate", nullptr},
                     {"init", "m"},        {"frame", "centered"}, {"dpm_time", "upstream"},
                     {"candidates", 1},    {"seed", 101},         {"max_trg_len", 0},    {"batch_size", 32}};
  EXPECT_EQ(sampler_schema().to_json(SamplerOptions{}), want);
  EXPECT_EQ(sampler_schema().to_json(sampler_schema().parse(json::object(), "sample")), want);
  EXPECT_EQ(stream_schema().to_json(StreamOptions{}), json({{"sort_window", 1}, {"idle_flush_ms", 100}}));
  // The documented default of every field is the struct's.
  for (const FieldInfo& f : sampler_schema().fields()) EXPECT_EQ(f.default_value, want[f.name]) << f.name;
  // Every field has a place in docs/config.md.
  for (const FieldInfo& f : sample_fields()) {
    EXPECT_FALSE(f.section.empty()) << f.name;
    EXPECT_FALSE(f.doc.empty()) << f.name;
  }
  EXPECT_EQ(sample_fields().size(), 13u);
}

TEST(SampleConfig, ReadsEveryFieldIntoTheStruct) {
  const SamplerOptions o = sampler_schema().parse(
      {{"solver", "ddpm"}, {"steps", 100}, {"rounding", "off"}, {"absorb_rate", 0.25}, {"init", "zero"},
       {"frame", "raw"}, {"candidates", 10}, {"seed", 18446744073709551615ull}, {"max_trg_len", 64},
       {"batch_size", 1e3}},
      "sample");
  EXPECT_EQ(o.solver.kind, SolverKind::ddpm);
  EXPECT_EQ(o.solver.steps, 100);
  EXPECT_EQ(o.solver.rounding, 0);
  EXPECT_EQ(o.solver.absorb_rate, 0.25);
  EXPECT_EQ(o.solver.trajectory.init, InitNoise::zero);
  EXPECT_FALSE(o.solver.trajectory.centered);
  EXPECT_EQ(o.candidates, 10);
  EXPECT_EQ(o.seed, 18446744073709551615ull);
  EXPECT_EQ(o.max_trg_len, 64);
  EXPECT_EQ(o.batch_size, 1000);
  // Written back, read again: the same struct.
  EXPECT_EQ(sampler_schema().to_json(sampler_schema().parse(sampler_schema().to_json(o), "sample")),
            sampler_schema().to_json(o));
  // "dpmpp" is read as "dpm++", as the flag always accepted; rounding on is 1.
  const SamplerOptions p = sampler_schema().parse({{"solver", "dpmpp"}, {"rounding", "on"}, {"dpm_time", "v2"}}, "s");
  EXPECT_EQ(p.solver.kind, SolverKind::dpmpp);
  EXPECT_EQ(p.solver.rounding, 1);
  EXPECT_TRUE(p.solver.dpm_v2_time);
  const StreamOptions s = stream_schema().parse({{"sort_window", 4}, {"idle_flush_ms", 0}}, "sample");
  EXPECT_EQ(s.sort_window, 4);
  EXPECT_EQ(s.idle_flush_ms, 0);
}

TEST(SampleConfig, RangeBoundaries) {
  const std::string at = "run.json: sample.";
  // Lower bounds: the bound itself is accepted, one below it refused.
  EXPECT_EQ(sampler_error({{"steps", 0}}), "");
  EXPECT_EQ(sampler_error({{"steps", -1}}), at + "steps: expected an integer >= 0, found -1");
  EXPECT_EQ(sampler_error({{"candidates", 1}}), "");
  EXPECT_EQ(sampler_error({{"candidates", 0}}), at + "candidates: expected an integer >= 1, found 0");
  EXPECT_EQ(sampler_error({{"seed", 0}}), "");
  EXPECT_EQ(sampler_error({{"seed", -1}}), at + "seed: expected an integer >= 0, found -1");
  EXPECT_EQ(sampler_error({{"max_trg_len", 0}}), "");
  EXPECT_EQ(sampler_error({{"max_trg_len", -1}}), at + "max_trg_len: expected an integer >= 0, found -1");
  EXPECT_EQ(sampler_error({{"batch_size", 1}}), "");
  EXPECT_EQ(sampler_error({{"batch_size", 0}}), at + "batch_size: expected an integer >= 1, found 0");
  EXPECT_EQ(stream_error({{"sort_window", 1}}), "");
  EXPECT_EQ(stream_error({{"sort_window", 0}}), at + "sort_window: expected an integer >= 1, found 0");
  EXPECT_EQ(stream_error({{"idle_flush_ms", 0}}), "");
  EXPECT_EQ(stream_error({{"idle_flush_ms", -1}}), at + "idle_flush_ms: expected an integer >= 0, found -1");
  // Upper bounds: the member type's limit.
  EXPECT_EQ(sampler_error({{"steps", 2147483647}}), "");
  EXPECT_EQ(sampler_error({{"steps", 2147483648ll}}), at + "steps: expected an integer in [0, 2147483647], found 2147483648");
  EXPECT_EQ(sampler_error({{"seed", 18446744073709551615ull}}), "");
  EXPECT_EQ(sampler_error({{"seed", 1e20}}),
            at + "seed: expected an integer in [0, 18446744073709551615], found 1e+20");
  EXPECT_EQ(stream_error({{"idle_flush_ms", 2147483648ll}}),
            at + "idle_flush_ms: expected an integer in [0, 2147483647], found 2147483648");
  // absorb_rate: [0, 1] both ends included, or null (the model's).
  EXPECT_EQ(sampler_error({{"absorb_rate", 0}}), "");
  EXPECT_EQ(sampler_error({{"absorb_rate", 1}, {"solver", "ddpm"}}), "");
  EXPECT_EQ(sampler_error({{"absorb_rate", nullptr}}), "");
  EXPECT_EQ(sampler_error({{"absorb_rate", -0.01}}), at + "absorb_rate: expected a number in [0, 1], found -0.01");
  EXPECT_EQ(sampler_error({{"absorb_rate", 1.01}}), at + "absorb_rate: expected a number in [0, 1], found 1.01");
  EXPECT_EQ(sampler_error({{"absorb_rate", "0.5"}}), at + "absorb_rate: expected a number in [0, 1], found \"0.5\"");
  // Types: integers are whole, choices are their names.
  EXPECT_EQ(sampler_error({{"steps", 2.5}}), at + "steps: expected an integer >= 0, found 2.5");
  EXPECT_EQ(sampler_error({{"solver", "euler"}}),
            at + "solver: expected one of \"ddpm|ddim|dpm++|dpmpp\" (dpmpp = dpm++), found \"euler\"");
  EXPECT_EQ(sampler_error({{"rounding", true}}), at + "rounding: expected one of \"auto|on|off\", found true");
  EXPECT_EQ(sampler_error({{"init", "noise"}}), at + "init: expected one of \"m|zero\", found \"noise\"");
  EXPECT_EQ(sampler_error({{"frame", "centred"}}), at + "frame: expected one of \"centered|raw\", found \"centred\"");
  EXPECT_EQ(sampler_error({{"dpm_time", 2}}), at + "dpm_time: expected one of \"upstream|v2\", found 2");
  EXPECT_EQ(sampler_error(json::array()), "run.json: sample: expected a JSON object, found []");
}

TEST(SampleConfig, SettingsOfOneSolverOnly) {
  const std::string at = "run.json: sample.";
  EXPECT_EQ(sampler_error({{"solver", "ddpm"}, {"absorb_rate", 0.3}}), "");
  EXPECT_EQ(sampler_error({{"solver", "ddim"}, {"absorb_rate", 0}}), "");
  EXPECT_EQ(sampler_error({{"solver", "ddim"}, {"absorb_rate", 0.3}}),
            at + "absorb_rate: expected 0 with solver ddim (absorbing swaps are a ddpm setting), found 0.3");
  EXPECT_EQ(sampler_error({{"solver", "ddpm"}, {"dpm_time", "v2"}}),
            at + "dpm_time: expected \"upstream\" with solver ddpm (v2 is a dpm++ setting), found \"v2\"");
  // The error carries its parts, for a caller that names the flag instead.
  try {
    (void)sampler_schema().parse({{"solver", "ddim"}, {"dpm_time", "v2"}}, "sample");
    FAIL();
  } catch (const schema::BadValue& e) {
    EXPECT_EQ(e.field(), "dpm_time");
    EXPECT_EQ(e.expected(), "\"upstream\" with solver ddim (v2 is a dpm++ setting)");
    EXPECT_EQ(e.found().get<std::string>(), "v2");
  }
}

TEST(SampleConfig, UnknownKeysSuggestTheNearest) {
  const std::string e = sampler_error({{"sead", 5}});
  EXPECT_EQ(e.rfind("run.json: sample: unknown key \"sead\" (did you mean \"seed\"?); valid keys: solver, steps, ", 0),
            0u)
      << e;
  EXPECT_NE(e.find("batch_size"), std::string::npos) << e;
  EXPECT_EQ(stream_error({{"sort_windows", 2}}),
            "run.json: sample: unknown key \"sort_windows\" (did you mean \"sort_window\"?); valid keys: sort_window, "
            "idle_flush_ms");
  EXPECT_EQ(sampler_error({{"temperature", 1}}).find("did you mean"), std::string::npos);
}

TEST(SampleConfig, ValidatesStructsBuiltInCode) {
  SamplerOptions o;
  EXPECT_NO_THROW(validate(o));
  o.candidates = 0;
  try {
    validate(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_STREQ(e.what(), "sample.candidates: expected an integer >= 1, found 0");
  }
  o.candidates = 1;
  o.solver.rounding = 2;  // only -1 (auto), 0 and 1 mean something
  EXPECT_THROW(validate(o), Error);
  o.solver.rounding = 1;
  o.solver.absorb_rate = 1.5;
  EXPECT_THROW(validate(o), Error);
  o.solver.absorb_rate = -1;  // the model's
  EXPECT_NO_THROW(validate(o));
  StreamOptions s;
  EXPECT_NO_THROW(validate(s));
  s.idle_flush_ms = -5;
  try {
    validate(s, "stream");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "stream.idle_flush_ms: expected an integer >= 0, found -5");
  }
}

}  // namespace
}  // namespace mds
