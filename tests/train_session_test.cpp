// mds-train sessions end to end with a small bound model: config files and
// overrides, tokenizer embedded in the checkpoint, shards checked against the
// tokenizer, resume through files (bit-identical), config/data errors with
// their exit codes.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "data/shard.h"
#include "text/tokenizer.h"
#include "train/checkpoint.h"
#include "train/session.h"
#include "test_files.h"
#include "train_test_model.h"

namespace tr = mds::train;
using mds::Container;
using mds::ExitCode;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Binds LinearTestModel; its "model" object has timesteps, max_src_len and
// max_trg_len, declared in the config schema like the real model's.
struct TestModelConfig {
  int timesteps = 8;
  int64_t max_src_len = 30;
  int64_t max_trg_len = 8;
  uint64_t vocab_size = 0;  // 0 = the tokenizer's
};

const mds::ConfigSchema<TestModelConfig>& test_model_schema() {
  static const mds::ConfigSchema<TestModelConfig> s = [] {
    mds::ConfigSchema<TestModelConfig> t;
    t.integer("timesteps", &TestModelConfig::timesteps, 1, "diffusion steps")
        .integer("max_src_len", &TestModelConfig::max_src_len, 1, "longest source")
        .integer("max_trg_len", &TestModelConfig::max_trg_len, 1, "longest target")
        .integer("vocab_size", &TestModelConfig::vocab_size, 0, "vocabulary size (0 = the tokenizer's)");
    return t;
  }();
  return s;
}

class TestBoundModel : public tr::BoundModel {
 public:
  explicit TestBoundModel(TestModelConfig c) : c_(c) {}
  json config() const override { return test_model_schema().to_json(c_); }
  tr::ModelShape shape() const override { return {c_.timesteps, c_.max_src_len, c_.max_trg_len}; }
  std::unique_ptr<mds::TrainableModel> make(const std::string&, int, uint64_t seed) const override {
    return std::make_unique<mds::testing::LinearTestModel>(c_.timesteps, seed);
  }
  mds::Batch pack(const tr::Dataset& d, const std::vector<uint64_t>& ids) const override {
    return mds::testing::pack_test_batch(d, ids, static_cast<int>(c_.max_src_len), static_cast<int>(c_.max_trg_len));
  }

 private:
  TestModelConfig c_;
};

class TestBinding : public tr::ModelBinding {
 public:
  std::unique_ptr<tr::BoundModel> bind(const json& m, uint64_t vocab, const std::string& where) const override {
    TestModelConfig c = test_model_schema().parse(m, where);
    c.vocab_size = vocab;
    return std::make_unique<TestBoundModel>(c);
  }
  void check_device(const std::string& d) const override {
    if (d != "cpu") mds::throw_usage("--device {}: the test model runs on the CPU only", d);
  }
};

class Session : public mds::testing::TempDirTest {
 protected:
  void SetUp() override {
    tok_.save(path("tok.mds"));
    write_shard(path("train.mds"), mds::testing::random_dataset(60, 1), tok_);
    write_shard(path("valid.mds"), mds::testing::random_dataset(20, 2), tok_);
    write("run.json", R"({"model": {"timesteps": 8}, "train": {"steps": 20, "batch_size": 4,
      "lr": 0.05, "lr_schedule": "cosine", "warmup_steps": 2, "grad_clip": 0.5, "loss_aware_history": 2,
      "bucket_pool": 2, "checkpoint_every": 0, "log_every": 5, "valid_every": 10, "seed": 5}})");
  }
  static void write_shard(const std::string& path, const tr::Dataset& d, const mds::Tokenizer& tok) {
    mds::ShardInfo info;
    info.vocab_size = tok.vocab_size();
    info.tokenizer_hash = tok.hash();
    mds::ShardWriter w(path, info);
    for (size_t i = 0; i < d.size(); ++i) w.add(d.src(i).data, d.src(i).size, d.trg(i).data, d.trg(i).size);
    w.finish();
  }

  tr::SessionOptions base() const {
    tr::SessionOptions o;
    o.config_path = path("run.json");
    o.tokenizer_path = path("tok.mds");
    o.data = {path("train.mds")};
    o.valid = {path("valid.mds")};
    o.out = path("ck.mds");
    o.log = path("log.jsonl");
    o.progress = 0;
    o.device = "cpu";  // the test binding's model runs on the CPU only
    return o;
  }
  tr::SessionResult run(const tr::SessionOptions& o, const volatile std::sig_atomic_t* stop = nullptr) {
    std::FILE* out = std::tmpfile();
    std::FILE* msg = std::tmpfile();
    tr::SessionResult r = tr::run_session(o, binding_, stop, out, msg, false);
    stdout_ = slurp(out);
    messages_ = slurp(msg);
    return r;
  }
  // Runs and returns the error's code and message.
  std::pair<ExitCode, std::string> fail(const tr::SessionOptions& o) {
    try {
      run(o);
    } catch (const mds::Error& e) {
      return {e.code(), e.what()};
    }
    return {ExitCode::ok, "no error"};
  }
  static std::string slurp(std::FILE* f) {
    const std::string s = mds::testing::read_stream(f);
    std::fclose(f);
    return s;
  }

  mds::Tokenizer tok_;
  TestBinding binding_;
  std::string stdout_, messages_;
};

}  // namespace

TEST_F(Session, FreshRunWritesASelfContainedCheckpoint) {
  const tr::SessionResult r = run(base());
  EXPECT_EQ(r.train.step, 20);
  const Container ck = tr::read_checkpoint(path("ck.mds"));
  EXPECT_EQ(ck.meta["config"]["model"]["timesteps"], 8);
  EXPECT_EQ(ck.meta["config"]["model"]["max_trg_len"], 8);  // default filled in
  EXPECT_EQ(ck.meta["config"]["train"]["steps"], 20);
  EXPECT_EQ(ck.meta["config"]["train"]["ema_decay"], 0.9999);  // every train field recorded
  EXPECT_EQ(ck.meta["provenance"]["program"], "mds-train");
  EXPECT_EQ(mds::Tokenizer::from_embedded(ck).hash(), tok_.hash());
  EXPECT_EQ(ck.meta["trainer"]["step"], 20);
  // Metrics went to the log file, nothing to stdout.
  std::ifstream log(path("log.jsonl"));
  std::string line;
  int valid = 0, lines = 0;
  while (std::getline(log, line)) {
    ++lines;
    if (json::parse(line)["type"] == "valid") ++valid;
  }
  EXPECT_EQ(valid, 2);
  EXPECT_GE(lines, 8);
  EXPECT_EQ(stdout_, "");
}

TEST_F(Session, PrintConfigShowsEveryDefault) {
  tr::SessionOptions o = base();
  o.print_config = true;
  o.overrides = {"train.lr=0.001", "model.max_src_len=12"};
  const tr::SessionResult r = run(o);
  EXPECT_TRUE(r.config_printed);
  const json j = json::parse(stdout_);
  EXPECT_EQ(j["train"]["lr"], 0.001);
  EXPECT_EQ(j["train"]["beta2"], 0.999);
  EXPECT_EQ(j["model"]["max_src_len"], 12);
  EXPECT_EQ(j["model"]["vocab_size"], tok_.vocab_size());
  EXPECT_FALSE(fs::exists(path("ck.mds")));
}

TEST_F(Session, ResumeThroughFilesIsBitIdentical) {
  tr::SessionOptions straight = base();
  straight.out = path("straight.mds");
  run(straight);

  tr::SessionOptions first = base();
  first.overrides = {"train.decay_steps=20"};  // keep the 20-step schedule while stopping at 10
  first.overrides.push_back("train.steps=10");
  first.out = path("half.mds");
  EXPECT_EQ(run(first).train.step, 10);

  tr::SessionOptions second;  // only the checkpoint: config and tokenizer come from it
  second.resume = path("half.mds");
  second.data = {path("train.mds")};
  second.valid = {path("valid.mds")};
  second.out = path("resumed.mds");
  second.overrides = {"train.steps=20", "train.decay_steps=0"};
  second.progress = 0;
  second.log = path("log2.jsonl");
  EXPECT_EQ(run(second).train.step, 20);

  const Container a = tr::read_checkpoint(path("straight.mds")), b = tr::read_checkpoint(path("resumed.mds"));
  ASSERT_EQ(a.sections.size(), b.sections.size());
  for (const auto& s : a.sections) {
    ASSERT_NE(b.find(s.name), nullptr) << s.name;
    EXPECT_TRUE(s.data == b.find(s.name)->data) << s.name;
  }
  EXPECT_EQ(a.meta["trainer"], b.meta["trainer"]);
  EXPECT_EQ(a.meta["config"], b.meta["config"]);
}

TEST_F(Session, SignalBeforeTheFirstStepStillWritesACheckpoint) {
  volatile std::sig_atomic_t stop = 15;
  const tr::SessionResult r = run(base(), &stop);
  EXPECT_TRUE(r.train.interrupted);
  EXPECT_EQ(r.train.signal, 15);
  EXPECT_EQ(tr::read_checkpoint(path("ck.mds")).meta["trainer"]["step"], 0);
}

TEST_F(Session, ResumeMayNotChangeModelOrTokenizer) {
  run(base());
  tr::SessionOptions o = base();
  o.resume = path("ck.mds");
  o.out = path("ck2.mds");
  o.overrides = {"model.max_src_len=5"};
  auto [code, msg] = fail(o);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("keeps the checkpoint's model"), std::string::npos) << msg;

  write("other.json", R"({"model": {"timesteps": 9}})");
  o.overrides.clear();
  o.config_path = path("other.json");
  std::tie(code, msg) = fail(o);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("differs from the one in"), std::string::npos) << msg;

  o.config_path = path("run.json");
  mds::Tokenizer::from_merges({{4 + 'a', 4 + 'b'}}).save(path("tok2.mds"));
  o.tokenizer_path = path("tok2.mds");
  std::tie(code, msg) = fail(o);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("a resumed run keeps its tokenizer"), std::string::npos) << msg;

  // The same config and tokenizer are fine (the first run's command plus --resume).
  o.tokenizer_path = path("tok.mds");
  o.overrides = {"train.steps=22"};
  EXPECT_EQ(run(o).train.step, 22);
}

TEST_F(Session, ConfigErrorsAreUsageErrors) {
  struct Case {
    std::string text, want;
  } cases[] = {
      {R"({"model": {}, "train": {"lr_shedule": "linear"}})", "unknown key \"lr_shedule\""},
      {R"({"model": {}, "train": {"lr": -1}})", "run.json: train.lr: expected a number > 0, found -1"},
      {R"({"model": {}, "optim": {}})", "unknown top-level key \"optim\"; valid keys: model, train"},
      {R"({"train": {}})", "no \"model\" object"},
      {"{\"model\": {},\n \"train\": {,}}", "invalid JSON: parse error at line 2"},
      {R"({"model": {"layerz": 2}})", "model: unknown key \"layerz\""},
      {"[1]", "expected a JSON object"},
  };
  for (const Case& c : cases) {
    write("run.json", c.text);
    auto [code, msg] = fail(base());
    EXPECT_EQ(code, ExitCode::usage) << c.text;
    EXPECT_NE(msg.find(c.want), std::string::npos) << "got: " << msg << "\nwant: " << c.want;
  }
  tr::SessionOptions o = base();
  o.config_path = path("missing.json");
  auto [code, msg] = fail(o);
  EXPECT_EQ(code, ExitCode::usage);
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
  o = base();
  o.overrides = {"optim.lr=1"};
  EXPECT_EQ(fail(o).first, ExitCode::usage);
  o = base();
  o.device = "cuda";
  EXPECT_EQ(fail(o).first, ExitCode::usage);
  o = base();
  o.config_path.clear();
  EXPECT_NE(fail(o).second.find("--config is required"), std::string::npos);
}

TEST_F(Session, BadShardsAreBadInput) {
  write("junk.mds", "this is not a shard");
  tr::SessionOptions o = base();
  o.data = {path("junk.mds")};
  auto [code, msg] = fail(o);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(msg.find("junk.mds"), std::string::npos) << msg;

  const mds::Tokenizer other = mds::Tokenizer::from_merges({{4 + 'a', 4 + 'b'}});
  write_shard(path("other.mds"), mds::testing::random_dataset(5, 3), other);
  o.data = {path("train.mds"), path("other.mds")};
  std::tie(code, msg) = fail(o);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(msg.find("tokenizer"), std::string::npos) << msg;

  write_shard(path("empty.mds"), tr::Dataset{}, tok_);
  o.data = {path("empty.mds")};
  std::tie(code, msg) = fail(o);
  EXPECT_EQ(code, ExitCode::bad_input);
  EXPECT_NE(msg.find("no training pairs"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(path("ck.mds")));
}
