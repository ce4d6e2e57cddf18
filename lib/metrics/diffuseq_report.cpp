// The DiffuSeq report of mds-eval (see eval_report.h): what
// scripts/eval_seq2seq.py prints, from one JSONL file whose records carry the
// hypothesis and/or the candidates (one per sampling seed).
#include "metrics/eval_report.h"
#include "metrics/numpy_mean.h"
#include "core/parallel.h"

namespace mds {

namespace {

Json line_json(const DiffuSeqLine& l) {
  return Json{{"bleu", l.bleu}, {"rougeL", l.rougeL}, {"dist1", l.dist1}, {"len", l.len}};
}

// np.mean of each measure over a set of lines.
Json averages_json(const std::vector<const DiffuSeqLine*>& lines) {
  std::vector<double> b, r, d, n;
  for (const auto* l : lines) {
    b.push_back(l->bleu);
    r.push_back(l->rougeL);
    d.push_back(l->dist1);
    n.push_back(static_cast<double>(l->len));
  }
  return Json{{"avg_bleu", numpy_mean(b)}, {"avg_rougeL", numpy_mean(r)}, {"avg_dist1", numpy_mean(d)},
                        {"avg_len", numpy_mean(n)}};
}

struct ExampleResult {
  DiffuSeqLine hyp;
  std::vector<DiffuSeqLine> candidates;
  DiffuSeqDiversity diversity;
  size_t mbr = 0;
};

}  // namespace

Report diffuseq_report(const EvalInput& in, const DiffuSeqReportOptions& opt, const PerExampleSink& per_example) {
  Report rep;
  const size_t n = in.examples.size();
  const size_t k = in.candidates_per_example;
  rep.threads = effective_threads(opt.threads, n);
  const ScoringTimer timer;
  std::vector<ExampleResult> res(n);
  parallel_for_each(
      n, opt.threads, [] { return DiffuSeqScorer(); },
      [&](DiffuSeqScorer& s, size_t i) {
        const EvalExample& e = in.examples[i];
        std::string ref = diffuseq_clean_reference(e.refs.at(0), opt.tokens);
        if (in.has_hyp) res[i].hyp = s.line(diffuseq_clean_recover(e.hyp, opt.tokens), ref);
        if (k > 0) {
          std::vector<std::string> samples;
          for (const auto& c : e.candidates) samples.push_back(diffuseq_clean_recover(c, opt.tokens));
          for (const auto& c : samples) res[i].candidates.push_back(s.line(c, ref));
          res[i].diversity = s.diversity(samples);
          res[i].mbr = s.select_best(samples);
        }
      });
  timer.stop(rep);

  if (per_example) {
    for (size_t i = 0; i < n; ++i) {
      Json j;
      j["index"] = i;
      j["line"] = in.examples[i].line;
      if (in.has_hyp) j["hyp"] = line_json(res[i].hyp);
      if (k > 0) {
        Json cands = Json::array();
        for (const auto& c : res[i].candidates) cands.push_back(line_json(c));
        j["candidates"] = cands;
        j["self_bleu"] = res[i].diversity.self_bleu;
        j["div4"] = res[i].diversity.div4;
        j["mbr_index"] = res[i].mbr;
      }
      per_example(j);
    }
  }
  Json& s = rep.summary;
  s["metric"] = "diffuseq";
  s["n"] = n;
  s["skipped"] = in.skipped;
  Json c;
  c["reproduces"] =
      "DiffuSeq scripts/eval_seq2seq.py (Shark-NLP/DiffuSeq f78945d): nltk 3.8 sentence_bleu with "
      "SmoothingFunction().method4 on str.split() tokens, torchmetrics 0.10.3 ROUGEScore rougeL_fmeasure "
      "(float32), distinct-1, len(recover.split(' ')), self-BLEU and div-4 over candidates, selectBest MBR; "
      "averages are numpy.mean";
  c["bertscore"] = "not computed (needs microsoft/deberta-xlarge-mnli)";
  if (opt.tokens.remove)
    c["special_tokens"] = {{"sos", opt.tokens.sos}, {"eos", opt.tokens.eos}, {"sep", opt.tokens.sep},
                           {"pad", opt.tokens.pad}};
  else
    c["special_tokens"] = nullptr;
  c["reference"] = "the first reference of each record";
  c["candidates_per_example"] = k;
  c["input"] = input_json(in);
  c["threads"] = rep.threads;
  c["version"] = std::string("mds-eval ") + MDS_VERSION;
  s["config"] = c;
  if (n == 0) {
    s["hyp"] = nullptr;
    s["candidates"] = nullptr;
    return rep;
  }
  if (in.has_hyp) {
    std::vector<const DiffuSeqLine*> lines;
    for (const auto& r : res) lines.push_back(&r.hyp);
    s["hyp"] = averages_json(lines);
  } else {
    s["hyp"] = nullptr;
  }
  if (k > 0) {
    Json cand;
    Json per = Json::array();
    for (size_t j = 0; j < k; ++j) {
      std::vector<const DiffuSeqLine*> lines;
      for (const auto& r : res) lines.push_back(&r.candidates[j]);
      per.push_back(averages_json(lines));
    }
    cand["per_candidate_averages"] = per;
    std::vector<double> sb, d4;
    std::vector<const DiffuSeqLine*> mbr_lines;
    Json idx = Json::array();
    for (const auto& r : res) {
      sb.push_back(r.diversity.self_bleu);
      d4.push_back(r.diversity.div4);
      mbr_lines.push_back(&r.candidates[r.mbr]);
      idx.push_back(r.mbr);
    }
    cand["diversity"] = {{"avg_selfBleu", numpy_mean(sb)}, {"avg_div4", numpy_mean(d4)}};
    Json mbr = averages_json(mbr_lines);
    mbr["mbr_index_per_example"] = idx;
    cand["mbr"] = mbr;
    s["candidates"] = cand;
  } else {
    s["candidates"] = nullptr;
  }
  return rep;
}

}  // namespace mds
