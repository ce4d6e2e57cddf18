// ROUGE scoring (see rouge.h). Per pair: tokenize both texts once (whole-text
// tokens and sentence bounds), map ids to a dense per-pair alphabet, then
// count clipped n-gram overlaps, LCS lengths and the summary-level union LCS.
#include "metrics/rouge.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/parallel.h"

namespace mds {

double rouge_fmeasure(double precision, double recall) {
  if (precision + recall > 0) return 2 * precision * recall / (precision + recall);
  return 0.0;
}

namespace {
// rouge_scorer: rouge type names are rouge[1-9], rougeL, rougeLsum.
int order_of(const std::string& t) {
  if (t == "rougeL") return 0;
  if (t == "rougeLsum") return -1;
  if (t.size() == 6 && t.compare(0, 5, "rouge") == 0 && t[5] >= '1' && t[5] <= '9') return t[5] - '0';
  return -2;
}
}  // namespace

void check_rouge_types(const std::vector<std::string>& types) {
  if (types.empty()) throw_usage("no ROUGE types given; expected some of rouge1..rouge9, rougeL, rougeLsum");
  std::set<std::string> seen;
  for (const auto& t : types) {
    if (order_of(t) == -2) throw_usage("unknown ROUGE type \"{}\"; expected rouge1..rouge9, rougeL or rougeLsum", t);
    if (!seen.insert(t).second) throw_usage("ROUGE type \"{}\" given twice", t);
  }
}

RougeScorer::RougeScorer(RougeOptions opt) : opt_(std::move(opt)) {
  check_rouge_types(opt_.types);
  for (const auto& t : opt_.types) orders_.push_back(order_of(t));
}

void RougeScorer::to_local(const TokenizedText& t, std::vector<uint32_t>& out) {
  if (local_of_.size() < vocab_.size()) {
    local_of_.resize(vocab_.size(), 0);
    local_stamp_.resize(vocab_.size(), 0);
  }
  out.resize(t.ids.size());
  for (size_t i = 0; i < t.ids.size(); ++i) {
    uint32_t g = t.ids[i];
    if (local_stamp_[g] != stamp_) {
      local_stamp_[g] = stamp_;
      local_of_[g] = static_cast<uint32_t>(alphabet_++);
    }
    out[i] = local_of_[g];
  }
}

Prf RougeScorer::score_ngram(size_t n) {
  uint64_t overlap;
  size_t ref_count = ref_.size() >= n ? ref_.size() - n + 1 : 0;
  size_t hyp_count = hyp_.size() >= n ? hyp_.size() - n + 1 : 0;
  if (n == 1) {
    overlap = clipped_overlap(ref_, hyp_, alphabet_, counts_);
  } else {
    // Build n-gram ids order by order; both sides share one interner per order.
    ref_prev_ = ref_;
    hyp_prev_ = hyp_;
    size_t alphabet = alphabet_;
    for (size_t k = 2; k <= n; ++k) {
      interner_.clear();
      extend_ngrams(ref_prev_, ref_.data(), ref_.size(), k, interner_, ref_ng_);
      extend_ngrams(hyp_prev_, hyp_.data(), hyp_.size(), k, interner_, hyp_ng_);
      ref_prev_.swap(ref_ng_);
      hyp_prev_.swap(hyp_ng_);
      alphabet = interner_.size();
    }
    overlap = clipped_overlap(ref_prev_, hyp_prev_, alphabet, counts_);
  }
  Prf s;
  s.precision = static_cast<double>(overlap) / static_cast<double>(std::max<size_t>(hyp_count, 1));
  s.recall = static_cast<double>(overlap) / static_cast<double>(std::max<size_t>(ref_count, 1));
  s.fmeasure = rouge_fmeasure(s.precision, s.recall);
  return s;
}

Prf RougeScorer::score_lcs() {
  Prf s;
  if (ref_.empty() || hyp_.empty()) return s;
  size_t lcs = lcs_.length(ref_.data(), ref_.size(), hyp_.data(), hyp_.size(), alphabet_);
  s.precision = static_cast<double>(lcs) / static_cast<double>(hyp_.size());
  s.recall = static_cast<double>(lcs) / static_cast<double>(ref_.size());
  s.fmeasure = rouge_fmeasure(s.precision, s.recall);
  return s;
}

// rouge-score _summary_level_lcs: for each reference sentence, the union of
// its backtracked LCS with every candidate sentence; each union token counts
// as a hit while both token budgets (reference and candidate counts) last.
Prf RougeScorer::score_lsum() {
  Prf s;
  size_t m = ref_.size(), n = hyp_.size();
  if (ref_tok_.sentence_count() == 0 || hyp_tok_.sentence_count() == 0 || m == 0 || n == 0) return s;
  in_union_.assign(m, 0);
  const auto& rb = ref_tok_.sentence_bounds;
  const auto& cb = hyp_tok_.sentence_bounds;
  // Candidate sentences outside, so each one's match masks are built once.
  for (size_t c = 0; c + 1 < cb.size(); ++c) {
    lcs_.set_columns(hyp_.data() + cb[c], cb[c + 1] - cb[c], alphabet_);
    for (size_t r = 0; r + 1 < rb.size(); ++r) {
      const uint32_t* rs = ref_.data() + rb[r];
      size_t rl = rb[r + 1] - rb[r];
      if (!lcs_.shares_symbol(rs, rl)) continue;
      lcs_.backtrack_rows(rs, rl, lcs_idx_);
      for (uint32_t i : lcs_idx_) in_union_[rb[r] + i] = 1;
    }
  }
  cnt_r_.assign(alphabet_, 0);
  cnt_c_.assign(alphabet_, 0);
  for (uint32_t t : ref_) ++cnt_r_[t];
  for (uint32_t t : hyp_) ++cnt_c_[t];
  size_t hits = 0;
  for (size_t i = 0; i < m; ++i) {  // sentence by sentence, ascending index: the union order
    if (!in_union_[i]) continue;
    uint32_t t = ref_[i];
    if (cnt_c_[t] > 0 && cnt_r_[t] > 0) {
      ++hits;
      --cnt_c_[t];
      --cnt_r_[t];
    }
  }
  s.recall = static_cast<double>(hits) / static_cast<double>(m);
  s.precision = static_cast<double>(hits) / static_cast<double>(n);
  s.fmeasure = rouge_fmeasure(s.precision, s.recall);
  return s;
}

std::vector<Prf> RougeScorer::score(std::string_view target, std::string_view prediction) {
  vocab_.reset_if_larger_than(size_t(1) << 22);
  if (vocab_.size() == 0) {  // vocabulary was reset: local ids must be rebuilt
    local_of_.clear();
    local_stamp_.clear();
  }
  tokenize_rouge(target, opt_.tokenize, vocab_, ref_tok_, scratch_);
  tokenize_rouge(prediction, opt_.tokenize, vocab_, hyp_tok_, scratch_);
  if (++stamp_ == 0) {
    std::fill(local_stamp_.begin(), local_stamp_.end(), 0);
    stamp_ = 1;
  }
  alphabet_ = 0;
  to_local(ref_tok_, ref_);
  to_local(hyp_tok_, hyp_);
  std::vector<Prf> out;
  out.reserve(orders_.size());
  for (int o : orders_) {
    if (o > 0)
      out.push_back(score_ngram(static_cast<size_t>(o)));
    else if (o == 0)
      out.push_back(score_lcs());
    else
      out.push_back(score_lsum());
  }
  return out;
}

std::vector<Prf> RougeScorer::score_multi(const std::vector<std::string>& targets, std::string_view prediction) {
  if (targets.size() == 1) return score(targets[0], prediction);
  std::vector<Prf> best(orders_.size());
  for (size_t k = 0; k < targets.size(); ++k) {
    std::vector<Prf> s = score(targets[k], prediction);
    for (size_t t = 0; t < s.size(); ++t)
      if (k == 0 || s[t].fmeasure > best[t].fmeasure) best[t] = s[t];  // np.argmax: first maximum
  }
  return best;
}

std::vector<std::vector<Prf>> score_rouge_many(const std::vector<EvalExample>& examples, const RougeOptions& opt,
                                               int threads) {
  check_rouge_types(opt.types);
  return parallel_map(
      examples.size(), threads, [&] { return RougeScorer(opt); },
      [&](RougeScorer& scorer, size_t i) {
        const EvalExample& e = examples[i];
        if (e.refs.empty()) throw_bad_input("example {} has no reference", i);
        return scorer.score_multi(e.refs, e.hyp);
      });
}

}  // namespace mds
