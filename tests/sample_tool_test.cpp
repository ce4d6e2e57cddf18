// mds-sample's body (run_sample_tool) with an analytic model loader: files in
// and out, the configuration record on the log or in --meta, the summary,
// skipped records, and the errors a user can hit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "sample/sample_tool.h"
#include "sample_analytic_models.h"
#include "test_files.h"

namespace mds {
namespace {

namespace fs = std::filesystem;

class SampleTool : public testing::TempDirTest {
 protected:
  // Runs the tool with the memorising model; returns the log.
  std::string run(SampleToolOptions o, int* loads = nullptr) {
    std::FILE* log = std::tmpfile();
    ModelLoader loader = [loads](const ModelLoadOptions& mo) {
      if (loads) ++*loads;
      EXPECT_GE(mo.threads, 1);
      LoadedModel lm;
      lm.denoiser = std::make_unique<testing::MemoryDenoiser>(testing::memory_model());
      lm.codec = std::make_unique<testing::LetterCodec>();
      lm.identity = {{"path", mo.path}, {"step", 42}};
      return lm;
    };
    MbrSelector first = [](const std::vector<std::string>&) { return size_t{0}; };
    try {
      run_sample_tool(o, loader, first, log);
    } catch (...) {
      std::fclose(log);
      throw;
    }
    const std::string text = testing::read_stream(log);
    std::fclose(log);
    return text;
  }
};

TEST_F(SampleTool, FilesInOutAndConfigOnTheLog) {
  write("a.jsonl", "{\"src\":\"a b\",\"trg\":\"c d e\"}\n{\"src\":\"c\"}\n");
  write("b.jsonl", "{\"src\":\"d e f\"}\n");
  SampleToolOptions o;
  o.model.path = "model.mds";
  o.inputs = {path("a.jsonl"), path("b.jsonl")};
  o.output = path("out.jsonl");
  o.sampler.solver.kind = SolverKind::ddim;
  o.sampler.solver.steps = 20;
  o.command = {"mds-sample", "-m", "model.mds"};
  const std::string log = run(o);
  EXPECT_EQ(testing::read_file(path("out.jsonl")),
            "{\"src\":\"a b\",\"trg\":\"c d e\",\"hyp\":\"c d e\"}\n{\"src\":\"c\",\"hyp\":\"g h i j k\"}\n"
            "{\"src\":\"d e f\",\"hyp\":\"k l\"}\n");
  ASSERT_EQ(log.rfind("mds-sample: config {", 0), 0u) << log;
  const auto nl = log.find('\n');
  const auto cfg = nlohmann::json::parse(log.substr(19, nl - 19));
  EXPECT_EQ(cfg["sampler"]["solver"], "ddim");
  EXPECT_EQ(cfg["sampler"]["steps"], 20);
  EXPECT_EQ(cfg["sampler"]["seed"], 101);
  EXPECT_EQ(cfg["sampler"]["rounding"], true);
  EXPECT_EQ(cfg["sampler"]["frame"], "centered");
  EXPECT_EQ(cfg["checkpoint"]["step"], 42);
  EXPECT_EQ(cfg["command"][2], "model.mds");
  EXPECT_EQ(cfg["inputs"].size(), 2u);
  EXPECT_NE(log.find("mds-sample: 3 records (0 skipped) in"), std::string::npos) << log;
}

TEST_F(SampleTool, MetaFileHoldsConfigAndStats) {
  write("a.jsonl", "{\"src\":\"a b\"}\n{\"x\":1}\n{\"src\":\"c\"}\n");
  SampleToolOptions o;
  o.inputs = {path("a.jsonl")};
  o.output = path("out.jsonl");
  o.meta_path = path("meta.json");
  o.stream.skip_bad = true;
  o.sampler.candidates = 3;
  o.stream.keep_candidates = true;
  const std::string log = run(o);
  EXPECT_EQ(log.find("config"), std::string::npos);  // the configuration went to the file
  EXPECT_NE(log.find("mds-sample: skipped " + path("a.jsonl") + ":2: missing field \"src\""), std::string::npos) << log;
  const auto meta = nlohmann::json::parse(testing::read_file(path("meta.json")));
  EXPECT_EQ(meta["sampler"]["solver"], "dpm++");
  EXPECT_EQ(meta["sampler"]["candidates"], 3);
  EXPECT_EQ(meta["stats"]["records"], 2);
  EXPECT_EQ(meta["stats"]["skipped"], 1);
  EXPECT_EQ(meta["stats"]["sequences"], 6);
  EXPECT_GT(meta["stats"]["model_evaluations"].get<int>(), 0);
  const auto out = testing::read_file(path("out.jsonl"));
  EXPECT_NE(out.find("\"candidates\":[\"c d e\",\"c d e\",\"c d e\"]"), std::string::npos) << out;
}

TEST_F(SampleTool, QuietWritesNothingToTheLog) {
  write("a.jsonl", "{\"src\":\"c\"}\n");
  SampleToolOptions o;
  o.inputs = {path("a.jsonl")};
  o.output = path("out.jsonl");
  o.quiet = true;
  EXPECT_EQ(run(o), "");
}

TEST_F(SampleTool, BadRecordFailsWithoutWritingTheOutput) {
  write("a.jsonl", "{\"src\":\"c\"}\n{\"src\":5}\n");
  SampleToolOptions o;
  o.inputs = {path("a.jsonl")};
  o.output = path("out.jsonl");
  try {
    run(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_EQ(std::string(e.what()), path("a.jsonl") + ":2: field \"src\" must be a string, found number");
  }
  EXPECT_FALSE(fs::exists(path("out.jsonl")));  // atomic output: nothing half-written
}

TEST_F(SampleTool, UsageErrorsComeBeforeAnyOutput) {
  SampleToolOptions o;
  o.output = path("out.jsonl");
  o.sampler.solver.steps = 5000;
  try {
    run(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("--steps 5000"), std::string::npos);
  }
  o.sampler.solver.steps = 0;
  o.model.threads = -1;
  EXPECT_THROW(run(o), Error);
  EXPECT_FALSE(fs::exists(path("out.jsonl")));
}

TEST_F(SampleTool, SamplerSettingsAreCheckedBeforeTheModelIsRead) {
  // The schema's ranges (sample/sample_config.h), before a possibly slow load.
  SampleToolOptions o;
  o.output = path("out.jsonl");
  o.stream.sort_window = 0;
  int loads = 0;
  try {
    run(o, &loads);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_STREQ(e.what(), "sample.sort_window: expected an integer >= 1, found 0");
  }
  o.stream.sort_window = 1;
  o.sampler.solver.kind = SolverKind::ddim;
  o.sampler.solver.absorb_rate = 0.5;
  EXPECT_THROW(run(o, &loads), Error);
  EXPECT_EQ(loads, 0);
  EXPECT_FALSE(fs::exists(path("out.jsonl")));
}

TEST_F(SampleTool, MissingInputIsARuntimeError) {
  SampleToolOptions o;
  o.inputs = {path("nope.jsonl")};
  o.output = path("out.jsonl");
  try {
    run(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::runtime);
    EXPECT_NE(std::string(e.what()).find("nope.jsonl"), std::string::npos);
  }
}

}  // namespace
}  // namespace mds

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "io/stream.h"

namespace mds {
namespace {

// mds-sample's input reader (io/stream.h's LineReader): lines reach it as
// soon as they are written to a FIFO, before the writer closes it; a final
// line without "\n" and zstd input work too.
TEST_F(SampleTool, LineReaderStreamsFromAFifo) {
  const std::string fifo = path("in.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::atomic<int> stage{0};
  std::thread writer([&] {
    std::FILE* f = std::fopen(fifo.c_str(), "w");
    std::fputs("first\nsec", f);
    std::fflush(f);
    while (stage.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::fputs("ond\nlast", f);
    std::fclose(f);
  });
  LineReader r(fifo);
  std::string line;
  ASSERT_TRUE(r.next(line));  // arrives while the writer still holds the FIFO open
  EXPECT_EQ(line, "first");
  EXPECT_EQ(r.line_number(), 1u);
  stage = 1;
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "second");
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "last");
  EXPECT_FALSE(r.next(line));
  writer.join();
}

TEST_F(SampleTool, LineReaderDecompressesZstdFromAFifo) {
  write("in.txt", "{\"src\":\"a\"}\n{\"src\":\"b\"}\n");
  ASSERT_EQ(std::system(("zstd -q -c " + path("in.txt") + " > " + path("in.zst")).c_str()), 0) << "needs the zstd tool";
  const std::string z = testing::read_file(path("in.zst"));
  const std::string fifo = path("z.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    std::FILE* f = std::fopen(fifo.c_str(), "wb");
    std::fwrite(z.data(), 1, z.size(), f);
    std::fwrite(z.data(), 1, z.size(), f);
    std::fclose(f);
  });
  LineReader r(fifo);
  std::vector<std::string> lines;
  std::string line;
  while (r.next(line)) lines.push_back(line);
  writer.join();
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"src\":\"a\"}", "{\"src\":\"b\"}", "{\"src\":\"a\"}", "{\"src\":\"b\"}"}));
  EXPECT_THROW(LineReader(path("missing")), Error);
}

}  // namespace
}  // namespace mds
