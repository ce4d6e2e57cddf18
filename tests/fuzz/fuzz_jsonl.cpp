// libFuzzer target: the JSON Lines readers of every tool: mds-tokenize's
// field extraction (text/corpus.h), the shared JsonlReader (io/jsonl.h),
// mds-eval's input (metrics/eval_input.h) and mds-sample's output of a
// record (annotate_record). Malformed lines must be mds::Error.
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "io/jsonl.h"
#include "metrics/eval_input.h"
#include "sample/jsonl_stream.h"
#include "text/corpus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<std::string> fields{"src", "trg"};
  std::vector<std::string> out;
  std::string err;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(start, nl - start);
    (void)mds::parse_jsonl_fields(line, fields, out, &err);
    try {
      const std::vector<std::string> cands{"a", "\xFF"};
      (void)mds::annotate_record(line, "hyp \xC3", &cands);
    } catch (const mds::Error&) {
    }
    start = nl + 1;
  }
  const std::string& path = mds::fuzz::write_scratch(data, size);
  for (bool skip : {false, true}) {
    try {
      mds::JsonlReader r(path, skip);
      nlohmann::json obj;
      std::string s;
      while (r.next(obj)) (void)r.get_string(obj, "src", s);
    } catch (const mds::Error&) {
    }
    try {
      mds::EvalInputOptions o;
      o.input = path;
      o.skip_bad = skip;
      o.candidates_field = skip ? "candidates" : "";
      (void)mds::read_eval_input(o);
    } catch (const mds::Error&) {
    }
  }
  return 0;
}
