// mds-eval's reports: each command scores an EvalInput, calls per_example(line)
// once per example in input order when asked, and returns the JSON summary,
// which records the full metric configuration and the upstream reference it
// reproduces. The JSON layout is documented in docs/metrics.md.
#pragma once

#include <chrono>
#include <ctime>
#include <functional>

#include <nlohmann/json.hpp>

#include "metrics/bleu.h"
#include "metrics/bootstrap.h"
#include "metrics/chrf.h"
#include "metrics/diffuseq.h"
#include "metrics/eval_input.h"
#include "metrics/rouge.h"

namespace mds {

// Reports keep their keys in insertion order (metric first, types in order).
using Json = nlohmann::ordered_json;
using PerExampleSink = std::function<void(const Json&)>;  // empty: no per-example output

struct RougeReportOptions {
  RougeOptions rouge;
  bool bootstrap = true;
  BootstrapOptions boot;
  int threads = 0;
};

struct BleuReportOptions {
  BleuOptions bleu;
  bool chrf = true;
  ChrfOptions chrf_opt;
  int threads = 0;
};

struct DiffuSeqReportOptions {
  DiffuSeqTokens tokens;
  int threads = 0;
};

struct Report {
  Json summary;
  double scoring_seconds = 0;  // wall time of the scoring phase (for --timing)
  double scoring_cpu_seconds = 0;  // CPU time of the process during it, all threads
  int threads = 1;             // threads actually used
};

// Times a report's scoring phase, from construction to stop(), which sets the
// report's scoring_seconds (wall) and scoring_cpu_seconds (process CPU).
class ScoringTimer {
 public:
  void stop(Report& rep) const {
    rep.scoring_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    rep.scoring_cpu_seconds = static_cast<double>(std::clock() - c0_) / CLOCKS_PER_SEC;
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::clock_t c0_ = std::clock();
};

Report rouge_report(const EvalInput& in, const RougeReportOptions& opt, const PerExampleSink& per_example);
Report bleu_report(const EvalInput& in, const BleuReportOptions& opt, const PerExampleSink& per_example);
Report diffuseq_report(const EvalInput& in, const DiffuSeqReportOptions& opt, const PerExampleSink& per_example);

// Shared pieces of the reports.
Json prf_json(const Prf& s);
// The "input" block of a report's configuration.
Json input_json(const EvalInput& in);

}  // namespace mds
