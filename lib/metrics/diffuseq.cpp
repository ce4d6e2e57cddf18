// DiffuSeq evaluation pieces (see diffuseq.h).
#include "metrics/diffuseq.h"

#include <algorithm>

#include "core/error.h"
#include "metrics/numpy_mean.h"
#include "core/parallel.h"
#include "metrics/unicode_py.h"

namespace mds {

namespace {

void remove_all(std::string& s, const std::string& what) {
  if (what.empty()) return;  // Python's replace("", "") would change nothing either
  size_t pos;
  std::string out;
  size_t from = 0;
  bool any = false;
  while ((pos = s.find(what, from)) != std::string::npos) {
    out.append(s, from, pos - from);
    from = pos + what.size();
    any = true;
  }
  if (!any) return;
  out.append(s, from, std::string::npos);
  s.swap(out);
}

RougeOptions rouge_l_only() {
  RougeOptions o;
  o.types = {"rougeL"};
  return o;
}

}  // namespace

std::string diffuseq_clean_reference(std::string_view text, const DiffuSeqTokens& tok) {
  std::string s(py_strip(text));
  if (!tok.remove) return s;
  remove_all(s, tok.eos);
  remove_all(s, tok.sos);
  remove_all(s, tok.sep);
  return s;
}

std::string diffuseq_clean_recover(std::string_view text, const DiffuSeqTokens& tok) {
  std::string s = diffuseq_clean_reference(text, tok);  // and then the padding
  if (tok.remove) remove_all(s, tok.pad);
  return s;
}

double diffuseq_dist1(std::string_view recover) {
  std::vector<std::string_view> toks = py_split(recover);
  if (toks.empty()) return 0.0;
  size_t total = toks.size();
  std::sort(toks.begin(), toks.end());
  size_t unique = static_cast<size_t>(std::unique(toks.begin(), toks.end()) - toks.begin());
  return static_cast<double>(unique) / static_cast<double>(total);
}

DiffuSeqScorer::DiffuSeqScorer() : rouge_(rouge_l_only()) {}

void DiffuSeqScorer::split_ids(std::string_view text, std::vector<uint32_t>& out) {
  out.clear();
  for (std::string_view t : py_split(text)) out.push_back(vocab_.id(t));
}

double DiffuSeqScorer::bleu(std::string_view recover, std::string_view reference) {
  vocab_.reset_if_larger_than(size_t(1) << 22);
  split_ids(recover, a_);
  split_ids(reference, b_);
  return nltk_.sentence_bleu_method4({&b_}, a_);
}

DiffuSeqLine DiffuSeqScorer::line(std::string_view recover, std::string_view reference) {
  DiffuSeqLine l;
  l.bleu = bleu(recover, reference);
  // torchmetrics ROUGEScore()(recover, reference)["rougeL_fmeasure"]: rouge-score's
  // F in double, stored in a float32 tensor, read back with .tolist().
  double f = rouge_.score(reference, recover)[0].fmeasure;
  l.rougeL = static_cast<double>(static_cast<float>(f));
  l.dist1 = diffuseq_dist1(recover);
  l.len = static_cast<long long>(std::count(recover.begin(), recover.end(), ' ')) + 1;
  return l;
}

DiffuSeqDiversity DiffuSeqScorer::diversity(const std::vector<std::string>& samples) {
  DiffuSeqDiversity d;
  vocab_.reset_if_larger_than(size_t(1) << 22);
  sample_ids_.resize(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) split_ids(samples[i], sample_ids_[i]);
  std::vector<double> pair_bleu;
  for (size_t i = 0; i < samples.size(); ++i)
    for (size_t j = i + 1; j < samples.size(); ++j)
      pair_bleu.push_back(nltk_.sentence_bleu_method4({&sample_ids_[j]}, sample_ids_[i]));
  if (pair_bleu.empty()) pair_bleu.push_back(0.0);
  d.self_bleu = numpy_mean(pair_bleu);
  // distinct_n_gram_inter_sent(samples, 4): 4-grams within each sample, pooled.
  std::vector<std::vector<uint32_t>> grams;
  for (const auto& ids : sample_ids_)
    for (size_t k = 0; k + 4 <= ids.size(); ++k) grams.emplace_back(ids.begin() + k, ids.begin() + k + 4);
  if (!grams.empty()) {
    size_t total = grams.size();
    std::sort(grams.begin(), grams.end());
    size_t unique = static_cast<size_t>(std::unique(grams.begin(), grams.end()) - grams.begin());
    d.div4 = static_cast<double>(unique) / static_cast<double>(total);
  }
  return d;
}

size_t DiffuSeqScorer::select_best(const std::vector<std::string>& samples) {
  if (samples.empty()) throw_usage("MBR selection needs at least one candidate");
  vocab_.reset_if_larger_than(size_t(1) << 22);
  const size_t k = samples.size();
  sample_ids_.resize(k);
  for (size_t i = 0; i < k; ++i) split_ids(samples[i], sample_ids_[i]);
  std::vector<double> row(k);
  size_t best = 0;
  double best_sum = 0;
  for (size_t i = 0; i < k; ++i) {
    for (size_t j = 0; j < k; ++j)
      row[j] = i == j ? 0.0 : nltk_.sentence_bleu_method4({&sample_ids_[j]}, sample_ids_[i]);
    double sum = numpy_sum(row.data(), k);  // np.sum(selfBleu, -1)
    if (i == 0 || sum > best_sum) {        // np.argmax: first maximum
      best = i;
      best_sum = sum;
    }
  }
  return best;
}

std::vector<DiffuSeqLine> diffuseq_lines(const std::vector<EvalExample>& examples, const DiffuSeqTokens& tok,
                                         int threads) {
  return parallel_map(
      examples.size(), threads, [] { return DiffuSeqScorer(); },
      [&](DiffuSeqScorer& s, size_t i) {
        const EvalExample& e = examples[i];
        if (e.refs.empty()) throw_bad_input("example {} has no reference", i);
        return s.line(diffuseq_clean_recover(e.hyp, tok), diffuseq_clean_reference(e.refs[0], tok));
      });
}

}  // namespace mds
