// score-rouge: scores JSON Lines of {"hyp": ..., "trg": ...} with ROUGE
// through libmds's C++ API (the stable part: metrics/rouge.h,
// metrics/eval_input.h, metrics/numpy_mean.h; docs/library.md) and prints the
// mean F-measure per type as one JSON object, the same means that
// `mds-eval rouge` reports. Usage: score-rouge [--stem] [FILE|-]
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "metrics/eval_input.h"
#include "metrics/numpy_mean.h"
#include "metrics/rouge.h"

int main(int argc, char** argv) {
  mds::EvalInputOptions in;
  mds::RougeOptions opt;  // rouge1, rouge2, rougeL, rougeLsum, as rouge-score
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--stem") == 0)
      opt.tokenize.stem = true;
    else
      in.input = argv[i];
  }
  try {
    const mds::EvalInput data = mds::read_eval_input(in);
    const std::vector<std::vector<mds::Prf>> scores = mds::score_rouge_many(data.examples, opt, /*threads=*/0);
    std::printf("{\"examples\": %zu", data.examples.size());
    for (size_t t = 0; t < opt.types.size(); ++t) {
      std::vector<double> f;
      for (const auto& per_type : scores) f.push_back(per_type[t].fmeasure);
      std::printf(", \"%s\": %.17g", opt.types[t].c_str(), mds::numpy_mean(f));
    }
    std::printf("}\n");
    return 0;
  } catch (const mds::Error& e) {  // the library reports bad input with the file and line
    std::fprintf(stderr, "score-rouge: error: %s\n", e.what());
    return e.exit_status();
  }
}
