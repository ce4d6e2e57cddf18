// The ROUGE report of mds-eval (see eval_report.h).

#include "metrics/eval_report.h"
#include "metrics/numpy_mean.h"
#include "core/parallel.h"
#include "metrics/unicode_py.h"

namespace mds {

Json prf_json(const Prf& s) {
  return Json{{"precision", s.precision}, {"recall", s.recall}, {"fmeasure", s.fmeasure}};
}

Json input_json(const EvalInput& in) {
  return Json{{"source", in.source}, {"examples", in.examples.size()}, {"skipped", in.skipped}};
}

namespace {

Json rouge_config(const RougeReportOptions& opt, const EvalInput& in, int threads) {
  const auto& t = opt.rouge.tokenize;
  Json c;
  c["reproduces"] =
      "google-research rouge-score 0.1.2 (rouge/rouge_scorer.py at 4808a72): RougeScorer(types, use_stemmer)."
      "score / score_multi and scoring.BootstrapAggregator, with nltk 3.8's PorterStemmer";
  c["types"] = opt.rouge.types;
  c["tokenizer"] = t.kind == RougeTokenizerKind::rouge_score ? "default" : "unicode";
  c["stem"] = t.stem;
  c["lsum_split"] = t.lsum_split == LsumSplit::newline ? "newline" : "sentence";
  c["multi_reference"] = "best_f";
  c["scale"] = "0..1";
  c["mean"] = "numpy.mean";
  if (opt.bootstrap)
    c["bootstrap"] = {{"n_samples", opt.boot.n_samples},
                      {"confidence_interval", opt.boot.confidence_interval},
                      {"seed", opt.boot.seed}};
  else
    c["bootstrap"] = nullptr;
  Json d;
  d["tokenizer"] = t.kind == RougeTokenizerKind::rouge_score
                       ? std::string("rouge-score tokenize.py: Python lower(), every run of [^a-z0-9] becomes a space")
                       : std::string("mds-eval unicode: Python lower(); runs of letters, numbers and combining marks "
                                     "are tokens; Han, kana, Thai, Lao, Khmer, Myanmar characters are single tokens "
                                     "(Unicode ") + unicode_tables_version() + ")";
  d["stem"] = t.stem ? "nltk 3.8 PorterStemmer (NLTK_EXTENSIONS) on tokens longer than 3 characters" : "no stemming";
  d["lsum_split"] = t.lsum_split == LsumSplit::newline
                        ? "text.split(\"\\n\"), empty pieces dropped (rouge-score split_summaries=False)"
                        : "newlines plus mds-eval's rule-based sentence splitter (not nltk punkt)";
  d["multi_reference"] = "per type, the reference with the highest F (first on ties), as score_multi";
  d["mean"] = "numpy.mean over examples per measure (pairwise summation)";
  if (opt.bootstrap)
    d["bootstrap"] = "rouge-score BootstrapAggregator after np.random.seed(seed): numpy legacy MT19937 stream shared "
                     "by the types in order; low/mid/high = np.percentile of the resampled means (mid is the median)";
  c["details"] = d;
  c["input"] = input_json(in);
  c["threads"] = threads;
  c["version"] = std::string("mds-eval ") + MDS_VERSION;
  return c;
}

}  // namespace

Report rouge_report(const EvalInput& in, const RougeReportOptions& opt, const PerExampleSink& per_example) {
  Report rep;
  rep.threads = effective_threads(opt.threads, in.examples.size());
  const ScoringTimer timer;
  std::vector<std::vector<Prf>> scores = score_rouge_many(in.examples, opt.rouge, opt.threads);
  std::vector<BootstrapInterval> ci;
  if (opt.bootstrap && !scores.empty()) ci = bootstrap_aggregate(scores, opt.rouge.types.size(), opt.boot);
  timer.stop(rep);

  const auto& types = opt.rouge.types;
  if (per_example) {
    for (size_t i = 0; i < scores.size(); ++i) {
      Json j;
      j["index"] = i;
      j["line"] = in.examples[i].line;
      for (size_t t = 0; t < types.size(); ++t) j[types[t]] = prf_json(scores[i][t]);
      per_example(j);
    }
  }
  Json& s = rep.summary;
  s["metric"] = "rouge";
  s["n"] = scores.size();
  s["skipped"] = in.skipped;
  s["config"] = rouge_config(opt, in, rep.threads);
  if (scores.empty()) {
    s["mean"] = nullptr;
    s["bootstrap"] = nullptr;
    return rep;
  }
  Json mean;
  std::vector<double> col(scores.size());
  for (size_t t = 0; t < types.size(); ++t) {
    Prf m;
    for (size_t i = 0; i < scores.size(); ++i) col[i] = scores[i][t].precision;
    m.precision = numpy_mean(col);
    for (size_t i = 0; i < scores.size(); ++i) col[i] = scores[i][t].recall;
    m.recall = numpy_mean(col);
    for (size_t i = 0; i < scores.size(); ++i) col[i] = scores[i][t].fmeasure;
    m.fmeasure = numpy_mean(col);
    mean[types[t]] = prf_json(m);
  }
  s["mean"] = mean;
  if (opt.bootstrap) {
    Json b;
    for (size_t t = 0; t < types.size(); ++t)
      b[types[t]] = {{"low", prf_json(ci[t].low)}, {"mid", prf_json(ci[t].mid)}, {"high", prf_json(ci[t].high)}};
    s["bootstrap"] = b;
  } else {
    s["bootstrap"] = nullptr;
  }
  return rep;
}

}  // namespace mds
