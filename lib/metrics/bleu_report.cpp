// The BLEU/chrF report of mds-eval (see eval_report.h).

#include "metrics/eval_report.h"
#include "core/parallel.h"

namespace mds {

namespace {

Json counts_json(const std::vector<double>& v) {
  Json a = Json::array();
  for (double x : v) {
    if (x == static_cast<double>(static_cast<long long>(x)))
      a.push_back(static_cast<long long>(x));  // sacrebleu keeps integer counts (add-k adds an int by default)
    else
      a.push_back(x);
  }
  return a;
}

Json bleu_json(const BleuScore& s) {
  return Json{{"score", s.score},
                        {"counts", counts_json(s.counts)},
                        {"totals", counts_json(s.totals)},
                        {"precisions", s.precisions},
                        {"bp", s.bp},
                        {"sys_len", s.sys_len},
                        {"ref_len", s.ref_len},
                        {"ratio", s.ratio},
                        {"formatted", s.formatted}};
}

const char* smooth_name(BleuSmooth s) {
  switch (s) {
    case BleuSmooth::exp: return "exp";
    case BleuSmooth::floor: return "floor";
    case BleuSmooth::add_k: return "add-k";
    case BleuSmooth::none: return "none";
  }
  return "?";
}

}  // namespace

Report bleu_report(const EvalInput& in, const BleuReportOptions& opt, const PerExampleSink& per_example) {
  Report rep;
  rep.threads = effective_threads(opt.threads, in.examples.size());
  const ScoringTimer timer;
  std::vector<BleuStats> stats = bleu_segment_stats(in.examples, opt.bleu, opt.threads);
  std::vector<ChrfStats> cstats;
  if (opt.chrf) cstats = chrf_segment_stats(in.examples, opt.chrf_opt, opt.threads);
  BleuStats total;
  total.correct.assign(static_cast<size_t>(opt.bleu.max_order), 0);
  total.total.assign(static_cast<size_t>(opt.bleu.max_order), 0);
  for (const auto& s : stats) total.add(s);
  BleuScore corpus = compute_bleu(total, opt.bleu);
  ChrfStats ctotal(3 * static_cast<size_t>(opt.chrf_opt.char_order + opt.chrf_opt.word_order), 0);
  for (const auto& s : cstats)
    for (size_t i = 0; i < ctotal.size(); ++i) ctotal[i] += s[i];
  timer.stop(rep);

  const int nrefs = count_references(in.examples);
  if (per_example) {
    // Sentence scores as sacrebleu.sentence_bleu / sentence_chrf: effective order on.
    BleuOptions sent = opt.bleu;
    sent.effective_order = true;
    for (size_t i = 0; i < stats.size(); ++i) {
      Json j;
      j["index"] = i;
      j["line"] = in.examples[i].line;
      j["bleu"] = bleu_json(compute_bleu(stats[i], sent));
      if (opt.chrf) {
        ChrfScore c = chrf_score(cstats[i], opt.chrf_opt);
        j["chrf"] = {{"score", c.score}, {"formatted", c.formatted}};
      }
      per_example(j);
    }
  }
  Json& s = rep.summary;
  s["metric"] = "bleu";
  s["n"] = stats.size();
  s["skipped"] = in.skipped;
  Json c;
  c["reproduces"] = "sacrebleu 2.6.0 (metrics/bleu.py, metrics/chrf.py): corpus_bleu / corpus_chrf";
  c["tokenize"] = opt.bleu.tokenize == BleuTokenizer::t13a ? "13a" : "none";
  c["lowercase"] = opt.bleu.lowercase;
  c["smooth_method"] = smooth_name(opt.bleu.smooth);
  if (opt.bleu.smooth == BleuSmooth::floor || opt.bleu.smooth == BleuSmooth::add_k)
    c["smooth_value"] = opt.bleu.smooth_value >= 0 ? opt.bleu.smooth_value
                        : opt.bleu.smooth == BleuSmooth::floor ? 0.1 : 1.0;
  c["max_ngram_order"] = opt.bleu.max_order;
  c["effective_order"] = opt.bleu.effective_order;
  c["references"] = "empty-string references are dropped like sacrebleu; a segment left with none keeps one empty "
                    "reference";
  c["per_example"] = "sentence BLEU with effective_order=True (sacrebleu.sentence_bleu) and sentence chrF";
  if (opt.chrf)
    c["chrf"] = {{"char_order", opt.chrf_opt.char_order}, {"word_order", opt.chrf_opt.word_order},
                 {"beta", opt.chrf_opt.beta}, {"whitespace", opt.chrf_opt.whitespace},
                 {"eps_smoothing", opt.chrf_opt.eps_smoothing}, {"lowercase", opt.chrf_opt.lowercase}};
  else
    c["chrf"] = nullptr;
  c["input"] = input_json(in);
  c["threads"] = rep.threads;
  c["version"] = std::string("mds-eval ") + MDS_VERSION;
  s["config"] = c;
  Json b = bleu_json(corpus);
  b["signature"] = bleu_signature(opt.bleu, nrefs);
  s["bleu"] = b;
  if (opt.chrf) {
    ChrfScore cs = chrf_score(ctotal, opt.chrf_opt);
    s["chrf"] = {{"score", cs.score}, {"formatted", cs.formatted}, {"signature", chrf_signature(opt.chrf_opt, nrefs)}};
  } else {
    s["chrf"] = nullptr;
  }
  return rep;
}

}  // namespace mds
