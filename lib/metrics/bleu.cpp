// sacrebleu BLEU (see bleu.h).
#include "metrics/bleu.h"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/parallel.h"
#include "metrics/unicode_py.h"

namespace mds {

void BleuStats::add(const BleuStats& o) {
  sys_len += o.sys_len;
  ref_len += o.ref_len;
  if (correct.size() < o.correct.size()) {
    correct.resize(o.correct.size(), 0);
    total.resize(o.total.size(), 0);
  }
  for (size_t i = 0; i < o.correct.size(); ++i) {
    correct[i] += o.correct[i];
    total[i] += o.total[i];
  }
}

namespace {

double default_smooth_value(const BleuOptions& opt) {
  if (opt.smooth_value >= 0) return opt.smooth_value;
  return opt.smooth == BleuSmooth::floor ? 0.1 : opt.smooth == BleuSmooth::add_k ? 1.0 : 0.0;
}

// sacrebleu utils.my_log
double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

}  // namespace

BleuScore compute_bleu(const BleuStats& stats, const BleuOptions& opt) {
  const int order = opt.max_order;
  BleuScore s;
  s.sys_len = stats.sys_len;
  s.ref_len = stats.ref_len;
  s.counts.assign(static_cast<size_t>(order), 0.0);
  s.totals.assign(static_cast<size_t>(order), 0.0);
  for (int n = 0; n < order && n < static_cast<int>(stats.correct.size()); ++n) {
    s.counts[n] = static_cast<double>(stats.correct[n]);
    s.totals[n] = static_cast<double>(stats.total[n]);
  }
  const double smooth_value = default_smooth_value(opt);
  // Brevity penalty.
  if (s.sys_len < s.ref_len)
    s.bp = s.sys_len > 0 ? std::exp(1 - static_cast<double>(s.ref_len) / static_cast<double>(s.sys_len)) : 0.0;
  else
    s.bp = 1.0;
  s.precisions.assign(static_cast<size_t>(order), 0.0);
  bool any = false;
  for (double c : s.counts) any = any || c != 0;
  if (any) {
    double smooth_mteval = 1.0;
    int eff_order = order;
    for (int n = 1; n <= order; ++n) {
      if (opt.smooth == BleuSmooth::add_k && n > 1) {  // sacrebleu mutates the reported counts
        s.counts[n - 1] += smooth_value;
        s.totals[n - 1] += smooth_value;
      }
      if (s.totals[n - 1] == 0) break;
      if (opt.effective_order) eff_order = n;
      if (s.counts[n - 1] == 0) {
        if (opt.smooth == BleuSmooth::exp) {
          smooth_mteval *= 2;
          s.precisions[n - 1] = 100. / (smooth_mteval * s.totals[n - 1]);
        } else if (opt.smooth == BleuSmooth::floor) {
          s.precisions[n - 1] = 100. * smooth_value / s.totals[n - 1];
        }
      } else {
        s.precisions[n - 1] = 100. * s.counts[n - 1] / s.totals[n - 1];
      }
    }
    double sum = 0.0;  // Python sum() of a list: left to right
    for (int n = 0; n < eff_order; ++n) sum += my_log(s.precisions[n]);
    s.score = s.bp * std::exp(sum / eff_order);
  }
  s.ratio = s.ref_len ? static_cast<double>(s.sys_len) / static_cast<double>(s.ref_len) : 0.0;
  std::string prec;
  for (size_t n = 0; n < s.precisions.size(); ++n) prec += fmt::format("{}{:.1f}", n ? "/" : "", s.precisions[n]);
  s.formatted = fmt::format("BLEU = {:.2f} {} (BP = {:.3f} ratio = {:.3f} hyp_len = {} ref_len = {})", s.score, prec,
                            s.bp, s.ratio, s.sys_len, s.ref_len);
  return s;
}

std::string bleu_signature(const BleuOptions& opt, int nrefs) {
  std::string smooth;
  switch (opt.smooth) {
    case BleuSmooth::exp: smooth = "exp"; break;
    case BleuSmooth::none: smooth = "none"; break;
    case BleuSmooth::floor: smooth = fmt::format("floor[{:.2f}]", default_smooth_value(opt)); break;
    case BleuSmooth::add_k: smooth = fmt::format("add-k[{:.2f}]", default_smooth_value(opt)); break;
  }
  return fmt::format("nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:2.6.0",
                     nrefs < 0 ? std::string("var") : std::to_string(nrefs), opt.lowercase ? "lc" : "mixed",
                     opt.effective_order ? "yes" : "no", opt.tokenize == BleuTokenizer::t13a ? "13a" : "none", smooth);
}

std::vector<const std::string*> usable_references(const std::vector<std::string>& refs) {
  std::vector<const std::string*> out;
  for (const auto& r : refs)
    if (!r.empty()) out.push_back(&r);
  static const std::string kEmpty;
  if (out.empty()) out.push_back(&kEmpty);
  return out;
}

int count_references(const std::vector<EvalExample>& examples) {
  std::set<size_t> counts;
  for (const auto& e : examples) counts.insert(usable_references(e.refs).size());
  if (counts.empty()) return 1;
  return counts.size() == 1 ? static_cast<int>(*counts.begin()) : -1;
}

BleuScorer::BleuScorer(BleuOptions opt) : opt_(opt) {
  if (opt_.max_order < 1 || opt_.max_order > 16) throw_usage("BLEU max n-gram order must be 1..16, found {}", opt_.max_order);
}

void BleuScorer::ids_of(const std::string& text, std::vector<uint32_t>& out) {
  std::string tok = sacrebleu_preprocess(text, opt_.lowercase, opt_.tokenize);
  out.clear();
  for (std::string_view t : py_split(tok)) out.push_back(vocab_.id(t));
}

BleuStats BleuScorer::segment(const std::string& hyp, const std::vector<std::string>& refs) {
  vocab_.reset_if_larger_than(size_t(1) << 22);
  auto usable = usable_references(refs);
  ids_of(hyp, hyp_);
  refs_.resize(usable.size());
  for (size_t r = 0; r < usable.size(); ++r) ids_of(*usable[r], refs_[r]);

  BleuStats st;
  const size_t order = static_cast<size_t>(opt_.max_order);
  st.correct.assign(order, 0);
  st.total.assign(order, 0);
  st.sys_len = static_cast<long long>(hyp_.size());
  // Closest reference length; ties go to the shorter reference.
  long long best_diff = -1, best_len = -1;
  for (const auto& r : refs_) {
    long long len = static_cast<long long>(r.size());
    long long diff = std::llabs(st.sys_len - len);
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best_len = len;
    } else if (diff == best_diff && len < best_len) {
      best_len = len;
    }
  }
  st.ref_len = best_len;

  ngrams_.start(hyp_);
  for (const auto& r : refs_) ngrams_.add_ref(r);
  for (size_t n = 1; n <= order; ++n) {
    if (n > 1) ngrams_.next_order(n);
    const size_t alphabet = ngrams_.alphabet();
    const std::vector<uint32_t>& hyp_ids = ngrams_.hyp();
    st.total[n - 1] = static_cast<long long>(hyp_ids.size());
    if (hyp_ids.empty()) continue;
    // Max count over references, then clip the hypothesis counts.
    counts_.assign(alphabet, 0);
    for (uint32_t g : hyp_ids) ++counts_[g];
    if (refs_.size() == 1) {
      for (uint32_t g : ngrams_.ref(0))
        if (counts_[g]) {
          --counts_[g];
          ++st.correct[n - 1];
        }
      continue;
    }
    maxref_.assign(alphabet, 0);
    for (size_t r = 0; r < refs_.size(); ++r) {
      refcount_.assign(alphabet, 0);
      for (uint32_t g : ngrams_.ref(r)) ++refcount_[g];
      for (uint32_t g : ngrams_.ref(r)) maxref_[g] = std::max(maxref_[g], refcount_[g]);
    }
    for (uint32_t g : hyp_ids) {
      if (maxref_[g]) {  // each hypothesis occurrence takes one unit of the reference maximum
        --maxref_[g];
        ++st.correct[n - 1];
      }
    }
  }
  return st;
}

std::vector<BleuStats> bleu_segment_stats(const std::vector<EvalExample>& examples, const BleuOptions& opt,
                                          int threads) {
  return score_segments<BleuScorer>(examples, opt, threads);
}

BleuScore corpus_bleu(const std::vector<EvalExample>& examples, const BleuOptions& opt, int threads) {
  BleuStats total;
  total.correct.assign(static_cast<size_t>(opt.max_order), 0);
  total.total.assign(static_cast<size_t>(opt.max_order), 0);
  for (const auto& s : bleu_segment_stats(examples, opt, threads)) total.add(s);
  return compute_bleu(total, opt);
}

BleuScore sentence_bleu(const std::string& hyp, const std::vector<std::string>& refs, BleuOptions opt) {
  BleuScorer s(opt);
  return compute_bleu(s.segment(hyp, refs), opt);
}

}  // namespace mds
