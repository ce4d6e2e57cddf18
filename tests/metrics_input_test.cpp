// mds-eval input readers: JSONL with string or array references and
// candidates, plain-text files (CRLF, several references), and the errors
// that name the file and line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"
#include "metrics/eval_input.h"

namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/mds_eval_input_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::string path_;
};

TEST(MetricsInput, JsonlReferencesAndCandidates) {
  TempDir d;
  mds::EvalInputOptions o;
  o.input = d.write("a.jsonl",
                    "{\"hyp\":\"h1\",\"trg\":\"r1\",\"candidates\":[\"c1\",\"c2\"]}\n\n"
                    "{\"hyp\":\"h2\",\"trg\":[\"r2\",\"r3\"],\"candidates\":[\"c3\",\"c4\"]}\n");
  o.candidates_field = "candidates";
  mds::EvalInput in = mds::read_eval_input(o);
  ASSERT_EQ(in.examples.size(), 2u);
  EXPECT_EQ(in.examples[1].refs, (std::vector<std::string>{"r2", "r3"}));
  EXPECT_EQ(in.examples[1].line, 3u);  // the blank line is not a record
  EXPECT_EQ(in.candidates_per_example, 2u);
  EXPECT_EQ(in.examples[0].candidates[1], "c2");
}

TEST(MetricsInput, JsonlErrorsNameFileAndLine) {
  TempDir d;
  mds::EvalInputOptions o;
  o.input = d.write("b.jsonl", "{\"hyp\":\"h\",\"trg\":\"r\"}\n{\"hyp\":\"h\",\"trg\":null}\n");
  try {
    mds::read_eval_input(o);
    FAIL() << "expected an error";
  } catch (const mds::Error& e) {
    EXPECT_EQ(e.code(), mds::ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("b.jsonl:2: field \"trg\" must be a string or a non-empty array"),
              std::string::npos)
        << e.what();
  }
  o.skip_bad = true;
  mds::EvalInput in = mds::read_eval_input(o);
  EXPECT_EQ(in.examples.size(), 1u);
  EXPECT_EQ(in.skipped, 1u);
}

TEST(MetricsInput, PlainTextFiles) {
  TempDir d;
  mds::EvalInputOptions o;
  o.hyp_file = d.write("h.txt", "one\r\ntwo\r\n");
  o.ref_files = {d.write("r1.txt", "uno\ndos\n"), d.write("r2.txt", "eins\nzwei")};
  mds::EvalInput in = mds::read_eval_input(o);
  ASSERT_EQ(in.examples.size(), 2u);
  EXPECT_EQ(in.examples[0].hyp, "one");
  EXPECT_EQ(in.examples[1].refs, (std::vector<std::string>{"dos", "zwei"}));
  o.ref_files.push_back(d.write("r3.txt", "x\n"));
  EXPECT_THROW(mds::read_eval_input(o), mds::Error);
  o.ref_files.clear();
  EXPECT_THROW(mds::read_eval_input(o), mds::Error);  // --hyp without --ref
}

}  // namespace
